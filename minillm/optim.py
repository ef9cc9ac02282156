"""The optimizer, PyTorch twin of `minillm.np.optim`: the same update rules on dicts of tensors,
and `AdamW`, a torch.optim.Optimizer built on `adamw_step` for a training loop to use.

Same names, same arguments, same formulas (each is written out in `minillm.np.optim`). The rules
change the parameters in place without recording gradients, so they work on a model's own
parameters: `params = dict(model.named_parameters())`,
`grads = {name: p.grad for name, p in params.items()}`.
"""
from __future__ import annotations

import torch

from minillm.checks import check_decayed, check_params_and_grads
from minillm.config import check_adam_settings, check_number, check_probability
from minillm.np.optim import lr_at  # noqa: F401  (the schedule is arithmetic on numbers: one copy)


@torch.no_grad()
def sgd_step(params, grads, lr):
    """Plain gradient descent, in place: p <- p - lr * g."""
    _check_step(params, grads, lr)
    for name, p in params.items():
        p -= lr * grads[name]


@torch.no_grad()
def momentum_step(params, grads, state, lr, momentum=0.9):
    """SGD with momentum (torch.optim.SGD's convention): v <- momentum * v + g; p <- p - lr * v.
    state: {} at the start, then state[name] = {"velocity": v}."""
    _check_step(params, grads, lr)
    check_probability("momentum", momentum)
    for name, p in params.items():
        if name not in state:
            state[name] = {"velocity": torch.zeros_like(p)}
        v = momentum * state[name]["velocity"] + grads[name]
        state[name]["velocity"] = v
        p -= lr * v


@torch.no_grad()
def adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """Adam (torch.optim.Adam), in place: at step t = 1, 2, ... of each parameter

        g <- g + weight_decay * p
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t),  v_hat = v / (1 - beta2**t)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)

    state: {} at the start, then state[name] = {"step": t, "m": m, "v": v}. p, m and v change in
    place (m and v keep p's dtype; m.clone() keeps a step's moments). Each line below is one
    operation of the formula on a batch of parameters (torch._foreach_*: one call for many small
    tensors, whose per-call cost is most of a step on a small model; see _batches), in the NumPy
    twin's order: no fused multiply-add (`alpha=`, addcmul_, addcdiv_, lerp_), which would round
    once where the formula rounds twice, and so change the numbers of every run trained with it.
    """
    _check_step(params, grads, lr)
    check_adam_settings(betas, eps, weight_decay)
    beta1, beta2 = betas
    for name, p in params.items():
        if name not in state:
            state[name] = {"step": 0, "m": torch.zeros_like(p), "v": torch.zeros_like(p)}
        state[name]["step"] += 1
    for names in _batches(params, params):
        p, g = [params[name] for name in names], [grads[name] for name in names]
        m, v = [state[name]["m"] for name in names], [state[name]["v"] for name in names]
        t = [state[name]["step"] for name in names]
        if weight_decay:
            g = torch._foreach_add(g, torch._foreach_mul(p, weight_decay))  # g + weight_decay * p
        torch._foreach_mul_(m, beta1)                                       # m <- beta1 * m
        torch._foreach_add_(m, torch._foreach_mul(g, 1 - beta1))            #  + (1 - beta1) * g
        g2 = torch._foreach_pow(g, 2)                                       # g**2
        torch._foreach_mul_(g2, 1 - beta2)                                  # (1 - beta2) * g**2
        torch._foreach_mul_(v, beta2)                                       # v <- beta2 * v
        torch._foreach_add_(v, g2)                                          #  + (1 - beta2) * g**2
        m_hat = torch._foreach_div(m, [1 - beta1**step for step in t])      # m / (1 - beta1**t)
        v_hat = torch._foreach_div(v, [1 - beta2**step for step in t])      # v / (1 - beta2**t)
        torch._foreach_sqrt_(v_hat)                                         # sqrt(v_hat)
        torch._foreach_add_(v_hat, eps)                                     #  + eps
        torch._foreach_mul_(m_hat, lr)                                      # lr * m_hat
        torch._foreach_div_(m_hat, v_hat)                                   #  / (sqrt(v_hat) + eps)
        torch._foreach_sub_(p, m_hat)                                       # p <- p - that


@torch.no_grad()
def adamw_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
               decayed=None):
    """AdamW (torch.optim.AdamW), in place: p <- p - lr * weight_decay * p for the names in
    `decayed` (None: all), then an Adam step without L2 penalty. state: as adam_step's."""
    _check_step(params, grads, lr)
    check_adam_settings(betas, eps, weight_decay)
    check_decayed(decayed, params)
    for names in _batches(params if decayed is None else decayed, params):
        p = [params[name] for name in names]
        torch._foreach_sub_(p, torch._foreach_mul(p, lr * weight_decay))  # p - lr * wd * p
    adam_step(params, grads, state, lr, betas=betas, eps=eps)


@torch.no_grad()
def clip_grad_norm(grads, max_norm):
    """(clipped grads, total norm): scale = min(1, max_norm / (total_norm + 1e-6)), every
    gradient times scale; total_norm, a 0-d tensor, is the L2 norm of all gradients together.
    The same numbers as torch.nn.utils.clip_grad_norm_, without changing grads in place."""
    if not max_norm > 0:
        raise ValueError(f"max_norm must be greater than 0 (math.inf measures the norm "
                         f"without clipping), got {max_norm}")
    total_norm = torch.sqrt(sum(torch.sum(g * g) for g in grads.values()))
    scale = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    return {name: g * scale for name, g in grads.items()}, total_norm


ADAMW_STATE = ("step", "m", "v")   # what AdamW keeps per parameter (adamw_step's state)


class AdamW(torch.optim.Optimizer):
    """adamw_step as a torch.optim.Optimizer: parameter groups (say, decayed and not), a
    state_dict a checkpoint can save, and `optimizer.step()` after `loss.backward()`.

    Each group has its own lr, betas, eps and weight_decay; a parameter whose .grad is None is
    skipped (its step count does not advance), as in torch.optim.AdamW. self.state[p] holds
    adamw_step's state for p: {"step": t, "m": m, "v": v}.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        check_number("lr", lr, at_least=0)
        check_adam_settings(betas, eps, weight_decay)
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        """One AdamW update of every parameter that has a gradient. closure: as torch.optim's,
        a function that recomputes the loss and returns it (rarely needed)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = {i: p for i, p in enumerate(group["params"]) if p.grad is not None}
            state = {i: self.state[p] for i, p in params.items() if self.state[p]}
            adamw_step(params, {i: p.grad for i, p in params.items()}, state, lr=group["lr"],
                       betas=group["betas"], eps=group["eps"],
                       weight_decay=group["weight_decay"])
            for i, p in params.items():   # the state adamw_step began for a parameter's 1st step
                self.state[p] = state[i]
        return loss


# ---- checks shared by the update rules -----------------------------------------------------
def _check_step(params, grads, lr):
    check_params_and_grads(params, grads)
    check_number("lr", lr, at_least=0)


BATCH_NUMEL = 2**20   # numbers per torch._foreach_* call: 4 MiB of float32


def _batches(names, params):
    """The names in lists for torch._foreach_* calls: consecutive names until their tensors hold
    BATCH_NUMEL numbers (a larger tensor goes alone). Small tensors share one call, and the
    temporaries of a step (lr * m_hat, ...) exist for one batch at a time, not for the model."""
    batch, numel = [], 0
    for name in names:
        if batch and numel + params[name].numel() > BATCH_NUMEL:
            yield batch
            batch, numel = [], 0
        batch.append(name)
        numel += params[name].numel()
    if batch:
        yield batch
