"""Model editing: change one fact a model learned, leave the rest alone (ROME-style).

An MLP's down projection W (d_model x d_ff) acts as a key-value memory: the hidden activation k
of a subject ("the cat") is a key, W k the value it writes into the residual stream. To make the
model say a new thing about that subject, find a value v that makes the model predict the new
target (by gradient descent on a vector added at that one position), then change W by the
update that maps k to v and changes the outputs for other keys least, tr(dW C dW^T) =
E|dW k'|^2 over keys k' of other text; of all updates (any rank) that one is rank one
(Meng et al., 2022):

    W' = W + (v - W k) (C^{-1} k)^T / (k^T C^{-1} k),     C = E[k k^T] over other text.

C^{-1} shrinks the directions in which other keys vary most, so the update reads k through
directions they seldom use and they are barely changed. key_covariance adds a small ridge
(1e-2 * I) so that C is well conditioned.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _down(model, layer):
    if not 0 <= layer < len(model.layers):
        raise ValueError(f"layer must lie in [0, {len(model.layers)}), got {layer}")
    return model.layers[layer].ff.down


def mlp_keys(model, layer, ids):
    """The inputs of layer's ff.down (its keys) at every position: ids (batch, seq) ->
    (batch, seq, d_ff)."""
    captured = []
    handle = _down(model, layer).register_forward_pre_hook(lambda m, args: captured.append(args[0]))
    try:
        with torch.no_grad():
            model(ids)
    finally:
        handle.remove()
    return captured[0]


def key_covariance(model, layer, ids, ridge=1e-2):
    """C = mean of k k^T over every position of ids (batch, seq), plus ridge * I: (d_ff, d_ff)."""
    keys = mlp_keys(model, layer, ids).reshape(-1, _down(model, layer).in_features)
    cov = keys.T @ keys / keys.shape[0]
    return cov + ridge * torch.eye(cov.shape[0])


def target_value(model, layer, prompt_ids, target_id, steps=100, lr=0.1, weight=1e-2):
    """The value v (d_model,) ff.down should write at the prompt's last position so that the
    model predicts target_id next: W k + delta, delta minimising
    -log p(target) + weight * |delta|^2. prompt_ids: (1, seq)."""
    down = _down(model, layer)
    key = mlp_keys(model, layer, prompt_ids)[0, -1]
    delta = torch.zeros(down.out_features, requires_grad=True)

    def add_delta(module, args, output):
        output = output.clone()
        output[:, -1] = output[:, -1] + delta
        return output

    handle = down.register_forward_hook(add_delta)
    optimizer = torch.optim.Adam([delta], lr=lr)
    try:
        for _ in range(steps):
            logits, _ = model(prompt_ids)
            loss = F.cross_entropy(logits[:, -1], torch.tensor([target_id]))
            # the gradient for delta only: the model's own weights stay untouched
            delta.grad, = torch.autograd.grad(loss + weight * delta.pow(2).sum(), [delta])
            optimizer.step()
    finally:
        handle.remove()
    with torch.no_grad():
        return down(key) + delta.detach() - (down.bias if down.bias is not None else 0)


@torch.no_grad()
def rank_one_update(weight, key, value, cov=None):
    """The update of weight (d_out, d_in) after which weight' @ key = value that changes the
    outputs least for keys typical under cov (d_in, d_in; None = the identity): rank one,
    outer(value - weight @ key, C^-1 key) / (key . C^-1 key). Returns the
    update (d_out, d_in); weight itself is not changed."""
    if key.shape != weight.shape[1:] or value.shape != weight.shape[:1]:
        raise ValueError(f"a weight of shape {tuple(weight.shape)} needs key ({weight.shape[1]},) "
                         f"and value ({weight.shape[0]},), got {tuple(key.shape)} and "
                         f"{tuple(value.shape)}")
    direction = key if cov is None else torch.linalg.solve(cov, key)     # C^{-1} k
    return torch.outer(value - weight @ key, direction) / (direction @ key)


@torch.no_grad()
def edit_fact(model, layer, prompt_ids, target_id, cov=None, **value_options):
    """Make model predict target_id after prompt_ids (1, seq) by a rank-one edit of
    layers[layer].ff.down, in place. Returns the update that was added (d_model, d_ff)."""
    with torch.enable_grad():
        value = target_value(model, layer, prompt_ids, target_id, **value_options)
    down = _down(model, layer)
    key = mlp_keys(model, layer, prompt_ids)[0, -1]
    update = rank_one_update(down.weight, key, value, cov)
    down.weight += update
    return update
