"""Checkers for the exercises of chapter 05, Fine-tuning.

Each checker takes the learner's answer (a function), prints ✅ or ❌ with a hint and returns a
Verdict. The placeholder `...` (or a function whose body is still `...`, which returns None) gets
"not yet", never an exception, so "Run All" goes through an unsolved chapter.
"""
from __future__ import annotations

import numpy as np
import torch

from minillm.exercises import close, try_answer, verdict
from minillm.finetune import EarlyStopping, LoRALinear, count_parameters, loss_on_response
from minillm.layers import Linear

LORA_SHAPES = ((64, 64, 4), (64, 172, 8), (384, 1536, 1), (768, 768, 16))


# ---- exercise 1: LoRA's parameter count ------------------------------------------------------
def check_lora_parameters(lora_parameters):
    """Exercise 1: lora_parameters(d_in, d_out, rank) -> the trainable numbers of one LoRALinear
    (its A and B), compared with count_parameters of a real one."""
    for d_in, d_out, rank in LORA_SHAPES:
        answer, hint = try_answer(lora_parameters, d_in, d_out, rank)
        if hint:
            return verdict(False, hint)
        want = count_parameters(LoRALinear(Linear(d_in, d_out, bias=False), rank=rank))
        if answer != want:
            if answer == d_in * d_out:
                return verdict(False, "that is the frozen weight W; LoRA trains A (rank x d_in) "
                                      "and B (d_out x rank) instead.")
            if answer == rank * rank or answer == rank * max(d_in, d_out):
                return verdict(False, "count both factors: A is (rank, d_in), B is (d_out, "
                                      "rank).")
            return verdict(False, f"for d_in={d_in}, d_out={d_out}, rank={rank} you said "
                                  f"{answer}; count the entries of A (rank, d_in) and B (d_out, "
                                  "rank).")
    return verdict(True, "", "rank * (d_in + d_out): for a 768 x 768 projection at rank 16, "
                             f"{16 * 1536:,} numbers instead of {768 * 768:,}.")


# ---- exercise 2: the response-masked loss ----------------------------------------------------
def _masked_case(seed):
    generator = torch.Generator().manual_seed(seed)
    batch, seq, vocab = 2 + seed, 7, 11
    logits = torch.randn(batch, seq, vocab, generator=generator)
    targets = torch.randint(vocab, (batch, seq), generator=generator)
    start = torch.randint(1, seq - 1, (batch, 1), generator=generator)
    mask = torch.arange(seq) >= start
    return logits, targets, mask


def check_response_loss(response_loss):
    """Exercise 2: response_loss(logits, targets, response_mask) -> mean cross-entropy over the
    response tokens of the whole batch (each token counts once, not a mean per sequence),
    compared with minillm.finetune.loss_on_response."""
    for seed in range(4):
        logits, targets, mask = _masked_case(seed)
        answer, hint = try_answer(response_loss, logits.clone(), targets.clone(), mask.clone())
        if hint:
            return verdict(False, hint)
        want = loss_on_response(logits, targets, mask)
        try:
            value = float(answer)
        except (TypeError, ValueError, RuntimeError):
            return verdict(False, "return one number (a scalar tensor or a float).")
        if np.isclose(value, want.item(), atol=1e-5):
            continue
        everywhere = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        if np.isclose(value, everywhere.item(), atol=1e-5):
            return verdict(False, "that averages over every token, the instruction too: keep "
                                  "only the positions where response_mask is True.")
        per_token = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                                      reduction="none")
        if np.isclose(value, (per_token * mask.flatten()).sum().item() / mask.numel(), atol=1e-5):
            return verdict(False, "divide by the number of response tokens, not by all tokens.")
        by_sequence = (per_token.view_as(targets) * mask).sum(1) / mask.sum(1)
        if np.isclose(value, by_sequence.mean().item(), atol=1e-5):
            return verdict(False, "that is a mean per sequence, then a mean over the sequences, "
                                  "so a token of a short response weighs more than one of a long "
                                  "response. Here every response token of the batch counts "
                                  "once: sum the losses at all response positions, divide by "
                                  "their number.")
        return verdict(False, "cross-entropy of logits (batch, seq, vocab) against targets, "
                              "averaged over the positions where response_mask is True.")
    return verdict(True, "", "Your loss equals loss_on_response: the prompt costs nothing.")


# ---- exercise 3: merging LoRA ----------------------------------------------------------------
def check_merge(merge):
    """Exercise 3: merge(weight, lora_A, lora_B, alpha, rank) -> the merged weight (out, in),
    compared with LoRALinear.weight."""
    for seed, (d_in, d_out, rank) in enumerate(LORA_SHAPES[:3]):
        torch.manual_seed(seed)
        lora = LoRALinear(Linear(d_in, d_out, bias=False), rank=rank, alpha=2 * rank + seed)
        with torch.no_grad():
            lora.lora_B.normal_()
        args = (lora.base.weight.detach().clone(), lora.lora_A.detach().clone(),
                lora.lora_B.detach().clone(), lora.alpha, lora.rank)
        answer, hint = try_answer(merge, *args)
        if hint:
            return verdict(False, hint)
        want = lora.weight.detach()
        if close(answer, want, atol=1e-4):
            continue
        weight, a, b = args[:3]
        if close(answer, weight + b @ a, atol=1e-4):
            return verdict(False, "scale the update by alpha / rank.")
        if close(answer, b @ a * lora.scale, atol=1e-4):
            return verdict(False, "add the update to the frozen weight W.")
        return verdict(False, "W + (B @ A) * alpha / rank, shape (out, in) like W.")
    return verdict(True, "", "The merged Linear computes the same outputs with no extra cost.")


# ---- exercise 4: early stopping --------------------------------------------------------------
STOPPING_CURVES = (([1.0, 0.8, 0.7, 0.72, 0.69, 0.75, 0.8, 0.9], 2),
                   ([1.0, 0.8, 0.7, 0.72, 0.69, 0.75, 0.8, 0.9], 3),
                   ([0.9, 0.6, 0.5, 0.5, 0.51, 0.52, 0.4], 3),
                   ([0.5, 0.6, 0.7, 0.8], 1),
                   # never `patience` bad epochs in a row: training runs to the last epoch
                   ([1.0, 0.9, 0.95, 0.85, 0.9, 0.8, 0.82], 2))


def _early_stop(curve, patience):
    stopper = EarlyStopping(patience=patience)
    for loss in curve:
        if stopper.step(loss):
            break
    return stopper.best_step, stopper.steps


def _never_stops(curve, patience):
    """True when EarlyStopping never says stop on curve: training runs to its last epoch."""
    stopper = EarlyStopping(patience=patience)
    return not any(stopper.step(loss) for loss in curve)


def _early_stop_ties_improve(curve, patience):
    """The rule with `<=` for `<`: a loss equal to the best counts as an improvement."""
    best, best_epoch, bad = float("inf"), None, 0
    for epoch, loss in enumerate(curve, start=1):
        if loss <= best:
            best, best_epoch, bad = loss, epoch, 0
        else:
            bad += 1
        if bad >= patience:
            return best_epoch, epoch
    return best_epoch, len(curve)


def check_early_stop(early_stop):
    """Exercise 4: early_stop(val_losses, patience) -> (best_epoch, stop_epoch), both counted
    from 1, as minillm.finetune.EarlyStopping sees them."""
    for curve, patience in STOPPING_CURVES:
        answer, hint = try_answer(early_stop, list(curve), patience)
        if hint:
            return verdict(False, hint)
        want = _early_stop(curve, patience)
        try:
            got = tuple(int(v) for v in answer)
        except (TypeError, ValueError):
            return verdict(False, "return a pair (best_epoch, stop_epoch).")
        if got == want:
            continue
        if got == (want[0] - 1, want[1] - 1):
            return verdict(False, "count epochs from 1: the first loss is epoch 1.")
        if got == _early_stop_ties_improve(curve, patience):
            return verdict(False, f"in {curve} a loss equals the best so far: that is not an "
                                  "improvement (it must be strictly below the best), so it "
                                  "counts towards `patience`.")
        if _never_stops(curve, patience) and got[0] == want[0]:
            return verdict(False, f"for {curve} with patience {patience} there are never "
                                  "`patience` epochs in a row without a new best, so training "
                                  f"runs to the last epoch: stop_epoch = {len(curve)}, the "
                                  "number of losses.")
        if got[0] == int(np.argmin(curve)) + 1 and got[0] != want[0]:
            return verdict(False, "training stops before it sees the later minimum: after "
                                  "`patience` epochs in a row without a new best.")
        return verdict(False, f"for {curve} with patience {patience}: an epoch improves when "
                              "its loss is below the best so far; stop after `patience` epochs "
                              "in a row that do not.")
    return verdict(True, "", "Your rule matches EarlyStopping.")
