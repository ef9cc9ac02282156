"""Layers with weights: Linear, Embedding, LayerNorm, RMSNorm, feed-forward, SwiGLU (NumPy).

Parameters are plain dicts of arrays whose keys and layouts are exactly those of the PyTorch
twin's `state_dict()` (e.g. a Linear weight is (out_features, in_features)), so weights copy
across in one line. Each `layer(params, x)` has a `layer_backward(dy, params, x)` that returns
(dx, grads), grads a dict with the same keys as params.
"""
from __future__ import annotations

import numpy as np

from minillm.checks import check_last_dim, check_token_ids
from minillm.config import ACTIVATIONS
from minillm.np.functional import gelu, gelu_backward, relu, relu_backward, silu, silu_backward


def subparams(params, prefix):
    """The entries of params under `prefix.`, prefix removed: the weights of one sub-layer."""
    start = prefix + "."
    return {name[len(start):]: value for name, value in params.items() if name.startswith(start)}


def prefixed(grads, prefix):
    """The inverse of subparams: put `prefix.` in front of every key."""
    return {f"{prefix}.{name}": value for name, value in grads.items()}


def linear(params, x):
    """y = x W^T + b.  params: weight (out, in), optional bias (out,).

    x: (..., in) -> (..., out).
    """
    check_last_dim("x", x, params["weight"].shape[1], "in_features")
    y = x @ params["weight"].T
    return y + params["bias"] if "bias" in params else y


def linear_backward(dy, params, x):
    """Backward of y = x W^T + b.  dy: (..., out), x: (..., in).

    dx = dy W  (..., in);  dW = sum over positions of dy^T x  (out, in);  db = sum of dy  (out,).
    Returns (dx, grads), grads {weight, bias} (bias only if params has one).
    """
    x2, dy2 = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
    grads = {"weight": dy2.T @ x2}
    if "bias" in params:
        grads["bias"] = dy2.sum(axis=0)
    return dy @ params["weight"], grads


def embedding(params, ids):
    """Look up rows of the table.  params: weight (vocab, d).  ids: (...) ints -> (..., d)."""
    ids = np.asarray(ids)
    check_token_ids(ids, params["weight"].shape[0])
    return params["weight"][ids]


def embedding_backward(dy, params, ids):
    """Backward of y = W[ids].  dy: (..., d), ids: (...) ints.

    dW[i] = the sum of dy over the positions where ids == i (a row looked up several times adds
    up their gradients; a row never looked up gets 0).  Returns (None, {weight: (vocab, d)}):
    None because integer ids have no gradient.
    """
    dweight = np.zeros_like(params["weight"])
    np.add.at(dweight, np.asarray(ids).reshape(-1), dy.reshape(-1, dy.shape[-1]))
    return None, {"weight": dweight}


def layer_norm(params, x, eps=1e-5):
    """(x - mean) / sqrt(var + eps) * weight + bias, over the last dimension.

    params: weight (d,), optional bias (d,).  x: (..., d) -> (..., d).  var is the biased variance.
    """
    check_last_dim("x", x, params["weight"].shape[0])
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps) * params["weight"]
    return y + params["bias"] if "bias" in params else y


def layer_norm_backward(dy, params, x, eps=1e-5):
    """Backward of y = x_hat * gamma + beta, x_hat = (x - mean(x)) / sigma,
    sigma = sqrt(var(x) + eps), mean and var over the last dimension.  dy, x: (..., d).

    dgamma = sum over positions of dy * x_hat;  dbeta = sum over positions of dy;  with
    g = dy * gamma,
        dx = (g - mean(g) - x_hat * mean(g * x_hat)) / sigma      (means over the last dim):
    normalising removes the mean and the x_hat direction, so those parts of g cannot pass back.
    Returns (dx (..., d), grads {weight: dgamma, bias: dbeta}).
    """
    mean = x.mean(axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + eps)
    x_hat = (x - mean) * inv_std
    lead = tuple(range(x.ndim - 1))
    grads = {"weight": (dy * x_hat).sum(axis=lead)}
    if "bias" in params:
        grads["bias"] = dy.sum(axis=lead)
    g = dy * params["weight"]
    dx = inv_std * (g - g.mean(axis=-1, keepdims=True)
                    - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))
    return dx, grads


def rms_norm(params, x, eps=1e-6):
    """x / sqrt(mean(x^2) + eps) * weight: LayerNorm without centring or bias (Llama).

    params: weight (d,).  x: (..., d) -> (..., d).
    """
    check_last_dim("x", x, params["weight"].shape[0])
    return x / np.sqrt((x**2).mean(axis=-1, keepdims=True) + eps) * params["weight"]


def rms_norm_backward(dy, params, x, eps=1e-6):
    """Backward of y = x_hat * gamma, x_hat = x / r, r = sqrt(mean(x^2) + eps) over the last
    dimension.  dy, x: (..., d).

    dgamma = sum over positions of dy * x_hat;  with g = dy * gamma,
        dx = (g - x_hat * mean(g * x_hat)) / r      (mean over the last dimension):
    LayerNorm's formula without the mean(g) term, since nothing is centred.
    Returns (dx (..., d), grads {weight: dgamma}).
    """
    inv_rms = 1.0 / np.sqrt((x**2).mean(axis=-1, keepdims=True) + eps)
    x_hat = x * inv_rms
    grads = {"weight": (dy * x_hat).sum(axis=tuple(range(x.ndim - 1)))}
    g = dy * params["weight"]
    dx = inv_rms * (g - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))
    return dx, grads


_NORMS = {"layer": (layer_norm, layer_norm_backward), "rms": (rms_norm, rms_norm_backward)}


def norm(params, x, kind="layer", eps=1e-5):
    """LayerNorm (kind="layer") or RMSNorm (kind="rms")."""
    forward, _ = _norm_kind(kind)
    return forward(params, x, eps)


def norm_backward(dy, params, x, kind="layer", eps=1e-5):
    """Backward of norm: layer_norm_backward (kind="layer") or rms_norm_backward (kind="rms"),
    whose docstrings give the formulas. dy, x: (..., d). Returns (dx (..., d), grads)."""
    _, backward = _norm_kind(kind)
    return backward(dy, params, x, eps)


_ACTIVATIONS = {
    "relu": (relu, relu_backward),
    "gelu": (gelu, gelu_backward),
    "gelu_tanh": (lambda x: gelu(x, "tanh"), lambda dy, x: gelu_backward(dy, x, "tanh")),
}


def feed_forward(params, x, activation="gelu"):
    """Position-wise feed-forward network: down(act(up(x))), or SwiGLU when activation="swiglu".

    params: up.weight (d_ff, d), down.weight (d, d_ff), optional biases (or SwiGLU's keys).
    x: (..., d) -> (..., d). activation: "relu", "gelu", "gelu_tanh" or "swiglu".
    """
    if activation == "swiglu":
        return swiglu(params, x)
    act, _ = _activation(activation)
    return linear(subparams(params, "down"), act(linear(subparams(params, "up"), x)))


def feed_forward_backward(dy, params, x, activation="gelu"):
    """Backward of y = down(act(h)), h = up(x) (or of SwiGLU: swiglu_backward).

    dy, x: (..., d). The chain rule, last layer first:
        da = dy W_down,  dW_down = sum of dy^T act(h)      (linear_backward)
        dh = act'(h) * da                               (the activation's backward)
        dx = dh W_up,    dW_up = sum of dh^T x
    Returns (dx (..., d), grads with the keys of params: up.*, down.*).
    """
    if activation == "swiglu":
        return swiglu_backward(dy, params, x)
    act, act_backward = _activation(activation)
    hidden = linear(subparams(params, "up"), x)
    dact, g_down = linear_backward(dy, subparams(params, "down"), act(hidden))
    dx, g_up = linear_backward(act_backward(dact, hidden), subparams(params, "up"), x)
    return dx, {**prefixed(g_up, "up"), **prefixed(g_down, "down")}


def swiglu(params, x):
    """SwiGLU feed-forward (Llama): down(silu(gate(x)) * up(x)).

    params: gate.weight (d_ff, d), up.weight (d_ff, d), down.weight (d, d_ff), optional biases.
    x: (..., d) -> (..., d).
    """
    gate = linear(subparams(params, "gate"), x)
    up = linear(subparams(params, "up"), x)
    return linear(subparams(params, "down"), silu(gate) * up)


def swiglu_backward(dy, params, x):
    """Backward of y = down(m), m = silu(g) * u, g = gate(x), u = up(x).

    dy, x: (..., d). The chain rule, last layer first:
        dm = dy W_down,           dW_down = sum of dy^T m
        du = dm * silu(g),        dg = dm * u * silu'(g)
        dx = dg W_gate + du W_up  (x feeds both branches, so their gradients add)
    Returns (dx (..., d), grads with the keys of params: gate.*, up.*, down.*).
    """
    gate = linear(subparams(params, "gate"), x)
    up = linear(subparams(params, "up"), x)
    dhidden, g_down = linear_backward(dy, subparams(params, "down"), silu(gate) * up)
    dgate = silu_backward(dhidden * up, gate)
    dx_gate, g_gate = linear_backward(dgate, subparams(params, "gate"), x)
    dx_up, g_up = linear_backward(dhidden * silu(gate), subparams(params, "up"), x)
    grads = {**prefixed(g_gate, "gate"), **prefixed(g_up, "up"), **prefixed(g_down, "down")}
    return dx_gate + dx_up, grads


def _norm_kind(kind):
    if kind not in _NORMS:
        raise ValueError(f"norm kind must be 'layer' or 'rms', got {kind!r}")
    return _NORMS[kind]


def _activation(name):
    if name not in _ACTIVATIONS:       # "swiglu" never comes here: feed_forward takes it first
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
    return _ACTIVATIONS[name]
