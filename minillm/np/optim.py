"""The optimizer, step by step: SGD -> momentum -> Adam -> AdamW, gradient clipping, and the
learning-rate schedule (linear warm-up from 0, then cosine decay).

Parameters and gradients are dicts of arrays by name, like every params dict in minillm.np:
`params["w"]` has the shape of `grads["w"]`. An update rule changes the arrays of `params` in
place (as torch.optim does) and keeps what it remembers between steps in `state`, a plain dict
that starts empty: `state[name]` holds one parameter's memory (its velocity, or Adam's moments
and step count).

    state = {}
    for step in range(steps):
        grads = ...                                            # backward pass
        grads, norm = clip_grad_norm(grads, max_norm=1.0)
        adamw_step(params, grads, state, lr=lr_at(step, 1e-3, 100, steps, min_lr=1e-4))

The tests check each rule against torch.optim (SGD, Adam, AdamW), clip_grad_norm against
torch.nn.utils.clip_grad_norm_, and lr_at against torch's LinearLR + CosineAnnealingLR.
"""
from __future__ import annotations

import math

import numpy as np

from minillm.checks import check_decayed, check_params_and_grads
from minillm.config import check_adam_settings, check_int, check_number, check_probability


def sgd_step(params, grads, lr):
    """Plain gradient descent, in place: p <- p - lr * g for every parameter.

    params, grads: {name: array}, grads[name] of params[name]'s shape; lr >= 0.
    """
    _check_step(params, grads, lr)
    for name, p in params.items():
        p -= lr * grads[name]


def momentum_step(params, grads, state, lr, momentum=0.9):
    """SGD with momentum, in place, PyTorch's convention (torch.optim.SGD, dampening 0):

        v <- momentum * v + g        (v starts at 0, so the first step is plain SGD)
        p <- p - lr * v

    v, the velocity, is a running sum of past gradients that fades by `momentum` each step:
    directions the gradients agree on build up speed, directions they flip-flop in cancel out.
    params, grads: {name: array}; state: {} at the start, then state[name] = {"velocity": v}.
    """
    _check_step(params, grads, lr)
    check_probability("momentum", momentum)
    for name, p in params.items():
        if name not in state:
            state[name] = {"velocity": np.zeros_like(p)}
        v = momentum * state[name]["velocity"] + grads[name]
        state[name]["velocity"] = v
        p -= lr * v


def adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """Adam, in place, as torch.optim.Adam. At step t = 1, 2, ... of each parameter:

        g <- g + weight_decay * p                     (L2 penalty: part of the gradient)
        m <- beta1 * m + (1 - beta1) * g              (first moment: the mean gradient)
        v <- beta2 * v + (1 - beta2) * g**2           (second moment: its mean square)
        m_hat = m / (1 - beta1**t),  v_hat = v / (1 - beta2**t)    (bias correction)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)

    m and v start at 0, so early on they are too small; dividing by 1 - beta**t undoes that.
    Each parameter moves by about lr, whatever the scale of its gradient. Note that the L2
    penalty passes through that division too, so it shrinks large-gradient weights less than
    others: AdamW (adamw_step) decays the weights outside the division instead.
    params, grads: {name: array}; state: {} at the start, then
    state[name] = {"step": t, "m": m, "v": v}, m and v of params[name]'s shape.
    """
    _check_step(params, grads, lr)
    check_adam_settings(betas, eps, weight_decay)
    beta1, beta2 = betas
    for name, p in params.items():
        if name not in state:
            state[name] = {"step": 0, "m": np.zeros_like(p), "v": np.zeros_like(p)}
        s = state[name]
        g = grads[name] + weight_decay * p if weight_decay else grads[name]
        s["step"] += 1
        s["m"] = beta1 * s["m"] + (1 - beta1) * g
        s["v"] = beta2 * s["v"] + (1 - beta2) * g**2
        m_hat = s["m"] / (1 - beta1 ** s["step"])
        v_hat = s["v"] / (1 - beta2 ** s["step"])
        p -= lr * m_hat / (np.sqrt(v_hat) + eps)


def adamw_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
               decayed=None):
    """AdamW, in place, as torch.optim.AdamW: decoupled weight decay, then an Adam step.

        p <- p - lr * weight_decay * p               (for the names in `decayed`)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)    (adam_step without its L2 penalty)

    The decay pulls every decayed weight towards 0 by the same fraction lr * weight_decay,
    however large its gradient; Adam's L2 penalty would be divided by sqrt(v_hat) first.
    decayed: the names to decay; None decays every parameter, as torch.optim.AdamW does. The
    course decays matrices and embeddings only: `{n for n, p in params.items() if p.ndim >= 2}`.
    params, grads: {name: array}; state: as adam_step's.
    """
    _check_step(params, grads, lr)
    check_adam_settings(betas, eps, weight_decay)
    check_decayed(decayed, params)
    decayed = params.keys() if decayed is None else decayed
    for name in decayed:
        params[name] -= lr * weight_decay * params[name]
    adam_step(params, grads, state, lr, betas=betas, eps=eps)


def clip_grad_norm(grads, max_norm):
    """(clipped grads, total norm), as torch.nn.utils.clip_grad_norm_ (which works in place):

        total_norm = sqrt(sum over all gradients of sum(g**2))    (one L2 norm of them all)
        scale = min(1, max_norm / (total_norm + 1e-6))
        clipped[name] = scale * grads[name]

    Below max_norm nothing changes; above it every gradient shrinks by the same factor, so the
    update keeps its direction and only its length is capped. max_norm=math.inf measures the
    norm without clipping. grads: {name: array}; returns a new dict and a float.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be greater than 0 (math.inf measures the norm "
                         f"without clipping), got {max_norm}")
    total_norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
    scale = min(1.0, max_norm / (total_norm + 1e-6))
    return {name: g * scale for name, g in grads.items()}, total_norm


def lr_at(step, peak_lr, warmup_steps, total_steps, min_lr=0.0):
    """The learning rate of optimizer step `step` (0-based) in a run of total_steps steps:

        step < warmup_steps:  peak_lr * step / warmup_steps         (0 at step 0)
        after warm-up:        min_lr + (peak_lr - min_lr) * (1 + cos(pi * progress)) / 2,
                              progress = (step - warmup_steps) / (total_steps - 1 - warmup_steps)

    So the rate climbs linearly from 0 to peak_lr, reached exactly at step == warmup_steps, then
    falls along half a cosine to min_lr at the last step, total_steps - 1 (and stays there for
    any later step). Warm-up keeps the first updates small while Adam's moments are still
    noisy; the slow end lets the last steps settle into a minimum instead of bouncing around it.
    warmup_steps=0 starts at the peak.
    """
    check_int("step", step, minimum=0)
    check_int("warmup_steps", warmup_steps, minimum=0)
    check_int("total_steps", total_steps, minimum=1)
    check_number("peak_lr", peak_lr, at_least=0)
    check_number("min_lr", min_lr, at_least=0)
    if min_lr > peak_lr:
        raise ValueError(f"min_lr must not exceed peak_lr, got min_lr={min_lr} > "
                         f"peak_lr={peak_lr}")
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps))
    return min_lr + 0.5 * (peak_lr - min_lr) * (1 + math.cos(math.pi * progress))


# ---- checks shared by the update rules -----------------------------------------------------
def _check_step(params, grads, lr):
    check_params_and_grads(params, grads)
    check_number("lr", lr, at_least=0)

