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
    """Adam (torch.optim.Adam): g += weight_decay * p; m, v <- running means of g and g**2;
    p <- p - lr * m_hat / (sqrt(v_hat) + eps), with the bias corrections m_hat = m / (1 - beta1**t),
    v_hat = v / (1 - beta2**t). state: {} at the start, then state[name] = {"step", "m", "v"}."""
    _check_step(params, grads, lr)
    check_adam_settings(betas, eps, weight_decay)
    beta1, beta2 = betas
    for name, p in params.items():
        if name not in state:
            state[name] = {"step": 0, "m": torch.zeros_like(p), "v": torch.zeros_like(p)}
        s = state[name]
        g = grads[name] + weight_decay * p if weight_decay else grads[name]
        s["step"] += 1
        s["m"] = beta1 * s["m"] + (1 - beta1) * g
        s["v"] = beta2 * s["v"] + (1 - beta2) * g**2
        m_hat = s["m"] / (1 - beta1 ** s["step"])
        v_hat = s["v"] / (1 - beta2 ** s["step"])
        p -= lr * m_hat / (torch.sqrt(v_hat) + eps)


@torch.no_grad()
def adamw_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
               decayed=None):
    """AdamW (torch.optim.AdamW): p <- p - lr * weight_decay * p for the names in `decayed`
    (None: all), then an Adam step without L2 penalty. state: as adam_step's."""
    _check_step(params, grads, lr)
    check_adam_settings(betas, eps, weight_decay)
    check_decayed(decayed, params)
    decayed = params.keys() if decayed is None else decayed
    for name in decayed:
        params[name] -= lr * weight_decay * params[name]
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
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = {"p": self.state[p]} if self.state[p] else {}
                adamw_step({"p": p}, {"p": p.grad}, state, lr=group["lr"], betas=group["betas"],
                           eps=group["eps"], weight_decay=group["weight_decay"])
                self.state[p] = state["p"]
        return loss


# ---- checks shared by the update rules -----------------------------------------------------
def _check_step(params, grads, lr):
    check_params_and_grads(params, grads)
    check_number("lr", lr, at_least=0)

