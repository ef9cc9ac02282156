"""The fine-tuning chapter's exercise checkers accept the solutions and reject typical mistakes."""
import pytest
import torch.nn.functional as F
from _helpers import load_solutions

from minillm.exercises.fine_tuning import (
    check_early_stop,
    check_lora_parameters,
    check_merge,
    check_response_loss,
)


@pytest.fixture(scope="module")
def solutions():
    return load_solutions("05-fine-tuning")


def test_lora_count_accepts_the_solution_and_rejects_the_full_matrix(solutions):
    assert check_lora_parameters(solutions.lora_parameters)
    assert not check_lora_parameters(lambda d_in, d_out, rank: d_in * d_out)
    assert not check_lora_parameters(lambda d_in, d_out, rank: rank * d_in)


def test_response_loss_rejects_the_loss_over_every_token(solutions):
    assert check_response_loss(solutions.response_loss)
    assert not check_response_loss(
        lambda logits, targets, mask: F.cross_entropy(logits.flatten(0, 1), targets.flatten()))


def test_merge_rejects_a_missing_scale(solutions):
    assert check_merge(solutions.merge)
    assert not check_merge(lambda w, a, b, alpha, rank: w + b @ a)


def test_early_stop_rejects_the_global_minimum(solutions):
    assert check_early_stop(solutions.early_stop)
    curve_min = lambda losses, patience: (losses.index(min(losses)) + 1, len(losses))  # noqa: E731
    assert not check_early_stop(curve_min)


def test_placeholders_get_a_hint_not_an_error():
    for check in (check_lora_parameters, check_response_loss, check_merge, check_early_stop):
        assert not check(...)


def test_response_loss_averaged_per_sequence_gets_a_targeted_hint(capsys):
    def per_sequence(logits, targets, response_mask):
        per_token = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
        mask = response_mask.float()
        return ((per_token.view_as(mask) * mask).sum(1) / mask.sum(1)).mean()

    assert not check_response_loss(per_sequence)
    out = capsys.readouterr().out
    assert "❌" in out and "mean per sequence" in out
