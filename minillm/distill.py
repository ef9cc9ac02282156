"""Knowledge distillation（知识蒸馏）: a small student learns from a teacher's soft targets.

The teacher's next-token distribution at temperature T, softmax(z_t / T), says not only which
token is right but how plausible every other one is. The student matches it by minimising
KL(p_teacher^T || p_student^T), multiplied by T^2 so its gradients keep their size as T grows
(Hinton et al., 2015), mixed with the usual cross-entropy on the labels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from minillm.data import IGNORE_INDEX


def distillation_loss(student_logits, teacher_logits, temperature=2.0):
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), averaged over positions.

    student_logits, teacher_logits: (..., vocab), the same shape. Returns a scalar tensor."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} must have the same shape")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    vocab = student_logits.shape[-1]
    log_p_student = F.log_softmax(student_logits.reshape(-1, vocab) / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.reshape(-1, vocab) / temperature, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, log_target=True, reduction="batchmean")
    return kl * temperature ** 2


def distillation_objective(teacher, temperature=2.0, alpha=0.5):
    """loss_fn(student, (x, y)) for minillm.train.train: alpha * distillation_loss to the frozen
    teacher's logits + (1 - alpha) * cross-entropy on the labels y. alpha=0: labels alone."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    teacher.eval()

    def loss_fn(student, batch):
        x, y = batch
        logits, _ = student(x)
        hard = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                               ignore_index=IGNORE_INDEX)
        if alpha == 0:
            return hard
        with torch.no_grad():
            teacher_logits, _ = teacher(x)
        return alpha * distillation_loss(logits, teacher_logits, temperature) + (1 - alpha) * hard
    return loss_fn
