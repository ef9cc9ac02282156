"""Choosing what trains: freeze a module, unfreeze it or only the body's last k layers, and
count the parameters that train. `minillm.train.train`'s optimizer only updates parameters with
requires_grad, so frozen weights stay put."""
from __future__ import annotations

from minillm.finetune.heads import _check_body


# ---- what trains ---------------------------------------------------------------------------
def freeze(module):
    """Stop every parameter of module from training (requires_grad=False). Returns module."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def unfreeze(module):
    """Let every parameter of module train again. Returns module."""
    for p in module.parameters():
        p.requires_grad_(True)
    return module


def unfreeze_last_layers(body, k):
    """Freeze the body, then let its last k layers train, and its final norm (pre-LN), which
    sits after them. The top layers hold the most task-specific features; the bottom ones the
    most general. k = 0 freezes everything. Returns body."""
    _check_body(body)
    n_layers = len(body.layers)
    if not 0 <= k <= n_layers:
        raise ValueError(f"k must lie in [0, {n_layers}] (the body has {n_layers} layers), "
                         f"got {k}")
    freeze(body)
    if k:
        for layer in body.layers[n_layers - k:]:
            unfreeze(layer)
        if body.cfg.norm_first:
            unfreeze(body.final_norm)
    return body


def count_parameters(model, trainable_only=True):
    """Number of parameters (a tied weight counted once); only those that train by default."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
