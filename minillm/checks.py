"""Shape checks shared by the NumPy reference and the PyTorch twin.

Wrong shapes should fail early with a sentence a learner can act on, e.g.
"q has d_head=32 but k has d_head=16", never with a broadcasting traceback from deep inside.
Every function here looks only at `.shape` / `.ndim` / `.dtype`, so it works on arrays and tensors.
"""
from __future__ import annotations

import math


def check_ndim(name, x, at_least):
    if x.ndim < at_least:
        raise ValueError(f"{name} must have at least {at_least} dimensions, "
                         f"got shape {tuple(x.shape)}")


def check_last_dim(name, x, expected, meaning="features"):
    if x.shape[-1] != expected:
        raise ValueError(
            f"{name} has {meaning}={x.shape[-1]} in its last dimension (shape {tuple(x.shape)}), "
            f"expected {expected}"
        )


def check_kv_heads(n_heads, n_kv_heads):
    """Grouped-query attention shares each key/value head among n_heads // n_kv_heads query
    heads: the groups must come out whole."""
    if isinstance(n_kv_heads, bool) or not isinstance(n_kv_heads, int) or n_kv_heads < 1:
        raise ValueError(f"n_kv_heads must be a positive integer (or None = n_heads), "
                         f"got {n_kv_heads!r}")
    if n_heads % n_kv_heads:
        raise ValueError(f"n_heads={n_heads} is not divisible by n_kv_heads={n_kv_heads}: each "
                         "key/value head must serve a whole group of n_heads // n_kv_heads "
                         "query heads")


def check_qkv(q, k, v):
    """q: (..., seq_q, d_head), k: (..., seq_k, d_head), v: (..., seq_k, d_v)."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_ndim(name, x, 2)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q has d_head={q.shape[-1]} but k has d_head={k.shape[-1]} "
                         f"(q {tuple(q.shape)}, k {tuple(k.shape)})")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k has seq_k={k.shape[-2]} but v has {v.shape[-2]} positions "
                         f"(k {tuple(k.shape)}, v {tuple(v.shape)})")
    if k.shape[-2] == 0:
        raise ValueError(f"k and v hold no keys (seq_k=0, k {tuple(k.shape)}): every query "
                         "needs at least one key to attend to")
    if not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2]):
        raise ValueError(f"q, k and v must share their leading (batch, heads) dimensions, got "
                         f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")


def check_mask(mask, scores_shape):
    """mask must be boolean and broadcast to scores_shape = (..., seq_q, seq_k)."""
    if mask is None:
        return
    if str(mask.dtype) not in ("bool", "torch.bool"):
        raise ValueError(f"mask must be boolean (True = may attend), got dtype {mask.dtype}")
    target = tuple(scores_shape)
    shape = tuple(mask.shape)
    ok = len(shape) <= len(target) and all(
        m in (1, t) for m, t in zip(reversed(shape), reversed(target))
    )
    if not ok:
        raise ValueError(
            f"mask of shape {shape} does not fit attention scores of shape {target} "
            f"(batch, heads, seq_q, seq_k); use e.g. (seq_q, seq_k) or (batch, 1, 1, seq_k)"
        )


def check_seq_len(seq_len, max_seq_len, what="positional table"):
    if seq_len > max_seq_len:
        raise ValueError(f"sequence of length {seq_len} is longer than the {what} "
                         f"(max_seq_len={max_seq_len})")


def check_is_token(is_token, ids_shape, past=0):
    """is_token: (batch, past + seq) bool padding flags, one per token of ids_shape: (batch, seq)
    and, after `past` tokens held in a KV cache, one per cached token before them."""
    ids_shape = tuple(ids_shape)
    expected = ids_shape[:-1] + (past + ids_shape[-1],)
    if tuple(is_token.shape) != expected:
        cached = f" after {past} cached tokens" if past else ""
        raise ValueError(f"is_token of shape {tuple(is_token.shape)} does not match ids of shape "
                         f"{ids_shape}{cached}: expected {expected}, one flag per token"
                         + (", the cached ones first" if past else "") + " (False = padding)")


def check_target_shape(logits, targets):
    """targets: (...) integer class ids, one per row of logits: (..., vocab). Looks only at
    shapes and dtypes, so a training step can afford it."""
    if "int" not in str(targets.dtype):
        raise ValueError(f"targets must be integer class ids, got dtype {targets.dtype}")
    if tuple(logits.shape[:-1]) != tuple(targets.shape):
        raise ValueError(f"targets of shape {tuple(targets.shape)} do not match logits of shape "
                         f"{tuple(logits.shape)}: expected targets of shape "
                         f"{tuple(logits.shape[:-1])}")


def check_targets(logits, targets, ignore_index):
    """targets: (...) class ids in [0, vocab) or ignore_index, for logits: (..., vocab)."""
    check_target_shape(logits, targets)
    counted = targets[targets != ignore_index]
    if math.prod(counted.shape) and (counted.min() < 0 or counted.max() >= logits.shape[-1]):
        raise ValueError(f"targets must lie in [0, {logits.shape[-1]}) or equal "
                         f"ignore_index={ignore_index}, got values from {int(counted.min())} to "
                         f"{int(counted.max())}")


def check_token_ids(ids, vocab_size):
    """ids: integer array/tensor with values in [0, vocab_size)."""
    if "int" not in str(ids.dtype):
        raise ValueError(f"token ids must be integers, got dtype {ids.dtype}")
    if math.prod(ids.shape) == 0:
        raise ValueError("got an empty sequence of token ids")
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= vocab_size:
        raise ValueError(f"token ids must lie in [0, {vocab_size}), got values from {lo} to {hi}")


def check_cache_layers(cache_layers, needed):
    """A KV cache of cache_layers layers must hold the needed ones (a model's n_layers)."""
    if cache_layers < needed:
        raise ValueError(f"this KVCache holds {cache_layers} layers but the model needs "
                         f"{needed}: make it with KVCache(model.cfg.n_layers)")


def check_cache_continues(cached, new):
    """new keys (batch, heads, seq_new, d_head) must continue the cached keys' sequences:
    the same batch size, heads and d_head."""
    have, got = tuple(cached.shape), tuple(new.shape)
    if have[:-2] != got[:-2] or have[-1] != got[-1]:
        raise ValueError(f"this KVCache holds keys of (batch, heads, seq, d_head) = {have} but "
                         f"the new ones are {got}: a cache continues the same batch of "
                         "sequences in the same model; use a fresh KVCache for another")


def check_params_and_grads(params, grads):
    """params, grads: dicts by name with the same names, grads[name] of params[name]'s shape (an
    optimizer step needs exactly one gradient per parameter)."""
    missing = [name for name in params if name not in grads]
    extra = [name for name in grads if name not in params]
    if missing:
        raise ValueError(f"grads must hold one gradient per parameter, by the same names: "
                         f"no gradient for {missing}")
    if extra:
        raise ValueError(f"grads must hold one gradient per parameter, by the same names: "
                         f"gradients of no parameter {extra}")
    for name, param in params.items():
        if tuple(grads[name].shape) != tuple(param.shape):
            raise ValueError(f"grads[{name!r}] has shape {tuple(grads[name].shape)}, expected "
                             f"{tuple(param.shape)} like params[{name!r}]")


def check_decayed(decayed, params):
    """decayed: None (decay every parameter) or names, each a key of params."""
    if decayed is None:
        return
    unknown = sorted(set(decayed) - set(params))
    if unknown:
        raise ValueError(f"decayed must name parameters of params ({sorted(params)}), got "
                         f"unknown names {unknown}")
