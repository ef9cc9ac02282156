"""Mistakes the fine-tuning chapter's checkers recognise (common checks: test_exercises.py)."""
import torch.nn.functional as F
from _helpers import rejects

from minillm.exercises.fine_tuning import (
    check_early_stop,
    check_lora_parameters,
    check_merge,
    check_response_loss,
)


def test_lora_count_of_the_full_matrix_is_rejected(capsys):
    rejects(check_lora_parameters, lambda d_in, d_out, rank: d_in * d_out, capsys,
            "frozen weight W")


def test_lora_count_of_one_factor_only_is_rejected(capsys):
    rejects(check_lora_parameters, lambda d_in, d_out, rank: rank * d_in, capsys,
            "count both factors")


def test_response_loss_over_every_token_is_rejected(capsys):
    def every_token(logits, targets, response_mask):
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    rejects(check_response_loss, every_token, capsys, "every token")


def test_merge_without_the_scale_is_rejected(capsys):
    rejects(check_merge, lambda w, a, b, alpha, rank: w + b @ a, capsys, "alpha / rank")


def test_early_stop_at_the_curves_global_minimum_is_rejected(capsys):
    def curve_min(losses, patience):
        return losses.index(min(losses)) + 1, len(losses)

    rejects(check_early_stop, curve_min, capsys, "below the best so far")


def test_response_loss_averaged_per_sequence_gets_a_targeted_hint(capsys):
    def per_sequence(logits, targets, response_mask):
        per_token = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
        mask = response_mask.float()
        return ((per_token.view_as(mask) * mask).sum(1) / mask.sum(1)).mean()

    rejects(check_response_loss, per_sequence, capsys, "mean per sequence")


def test_early_stop_that_counts_a_tie_as_improvement_gets_the_tie_hint(capsys):
    def ties_improve(losses, patience):
        best, best_epoch, bad = float("inf"), None, 0
        for epoch, loss in enumerate(losses, start=1):
            if loss <= best:          # the mistake: a tie is not below the best
                best, best_epoch, bad = loss, epoch, 0
            else:
                bad += 1
            if bad >= patience:
                return best_epoch, epoch
        return best_epoch, len(losses)

    rejects(check_early_stop, ties_improve, capsys, "strictly below")


def test_early_stop_without_the_last_epoch_branch_is_rejected(capsys):
    # This answer passed the checker while every curve triggered a stop: when patience never
    # runs out it reports no stop epoch (0) instead of the last epoch.
    def no_last_epoch(losses, patience):
        best, best_epoch, bad = float("inf"), None, 0
        for epoch, loss in enumerate(losses, start=1):
            if loss < best:
                best, best_epoch, bad = loss, epoch, 0
            else:
                bad += 1
            if bad >= patience:
                return best_epoch, epoch
        return best_epoch, 0

    rejects(check_early_stop, no_last_epoch, capsys, "runs to the last epoch")
