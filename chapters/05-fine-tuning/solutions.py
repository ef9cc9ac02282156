"""Solutions to the exercises of chapter 05, Fine-tuning (try them yourself first!).

Import in the notebook with `import solutions` (the notebook runs in this folder), e.g.
`check_merge(solutions.merge)`.
"""
import torch.nn.functional as F


def lora_parameters(d_in, d_out, rank):
    """Exercise 1: A is (rank, d_in), B is (d_out, rank)."""
    return rank * d_in + d_out * rank


def response_loss(logits, targets, response_mask):
    """Exercise 2: cross-entropy at every position, averaged over the response positions."""
    per_token = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
    mask = response_mask.flatten().float()
    return (per_token * mask).sum() / mask.sum()


def merge(weight, lora_A, lora_B, alpha, rank):
    """Exercise 3: W + B A * alpha / rank."""
    return weight + lora_B @ lora_A * (alpha / rank)


def early_stop(val_losses, patience):
    """Exercise 4: (best epoch, epoch at which training stops), epochs counted from 1."""
    best, best_epoch, bad = float("inf"), None, 0
    for epoch, loss in enumerate(val_losses, start=1):
        if loss < best:
            best, best_epoch, bad = loss, epoch, 0
        else:
            bad += 1
        if bad >= patience:
            return best_epoch, epoch
    return best_epoch, len(val_losses)
