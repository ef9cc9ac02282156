"""Element-wise and row-wise functions: softmax, log-softmax, cross-entropy, ReLU, GELU.

Every forward function `f(x)` has a hand-written `f_backward(dy, ...)` that returns dL/dx given
dL/dy. The tests check each one against `torch.autograd`.
"""
from __future__ import annotations

import math

import numpy as np

from minillm.checks import check_targets


def softmax(x, axis=-1):
    """Stable softmax: exp(x - max) / sum(exp(x - max)) along `axis`.

    x: any shape. Entries equal to -inf get probability 0; a row that is entirely -inf
    (every key masked) gets all zeros instead of NaN.
    """
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)          # an all -inf row: avoid (-inf) - (-inf) = NaN
    e = np.exp(x - m)
    total = np.sum(e, axis=axis, keepdims=True)
    return e / np.where(total == 0, 1.0, total)


def softmax_backward(dy, y, axis=-1):
    """dL/dx of y = softmax(x): y * (dy - sum(dy * y)), sums along `axis`. Needs only the
    output y.  dy, y: same shape."""
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


def log_softmax(x, axis=-1):
    """log(softmax(x)) computed as x - max - log(sum(exp(x - max))): never log(0) for finite x."""
    m = np.max(x, axis=axis, keepdims=True)
    shifted = x - m
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def log_softmax_backward(dy, y, axis=-1):
    """dL/dx of y = log_softmax(x): dy - softmax(x) * sum(dy), sums along `axis`, softmax(x) =
    exp(y). Needs only the output y.  dy, y: same shape."""
    return dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True)


def cross_entropy(logits, targets, ignore_index=-100):
    """Mean negative log-likelihood of the targets: -mean(log softmax(logits)[target]).

    logits:  (..., vocab) unnormalised scores.
    targets: (...) integer class ids; positions equal to `ignore_index` do not count.
    Returns a scalar (a 0-d array).
    """
    check_targets(logits, targets, ignore_index)
    logp = log_softmax(logits)
    keep = targets != ignore_index
    picked = np.take_along_axis(logp, np.where(keep, targets, 0)[..., None], axis=-1)[..., 0]
    return -np.sum(picked * keep) / max(int(keep.sum()), 1)


def cross_entropy_backward(dloss, logits, targets, ignore_index=-100):
    """dL/dlogits of loss = cross_entropy(logits, targets):

    dlogits = dloss * (softmax(logits) - one_hot(targets)) / n_counted,
    n_counted = the number of targets not equal to ignore_index; an ignored position gets 0.
    dloss: scalar; logits: (..., vocab); targets: (...) ints -> dlogits (..., vocab).
    """
    keep = targets != ignore_index
    grad = softmax(logits)
    one_hot = np.zeros_like(grad)
    np.put_along_axis(one_hot, np.where(keep, targets, 0)[..., None], 1.0, axis=-1)
    grad = (grad - one_hot) * keep[..., None]
    return dloss * grad / max(int(keep.sum()), 1)


def relu(x):
    """max(x, 0), element-wise."""
    return np.maximum(x, 0)


def relu_backward(dy, x):
    """dL/dx of y = relu(x): dy * 1[x > 0] (0 at x = 0, as PyTorch). dy, x: same shape."""
    return dy * (x > 0)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def gelu(x, approximate="none"):
    """GELU(x) = x * Phi(x), Phi the standard normal CDF.

    approximate="none": exact, with the error function (BERT, PyTorch's default).
    approximate="tanh": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (GPT-2's "gelu_new").
    Integer (and bool) arrays are computed in float64: x**3 would overflow in their own dtype.
    """
    x = _as_float(x)
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))
    if approximate == "none":
        return x * _normal_cdf(x)
    raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")


def _as_float(x):
    """x as an array, in float64 if it holds integers or bools, else unchanged."""
    x = np.asarray(x)
    return x.astype(np.float64) if x.dtype.kind in "biu" else x


def gelu_backward(dy, x, approximate="none"):
    """dL/dx of y = gelu(x). dy, x: same shape.

    approximate="none": d/dx [x Phi(x)] = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi),
    so dx = dy * (Phi(x) + x phi(x)).
    approximate="tanh": with u = sqrt(2/pi) (x + 0.044715 x^3) and t = tanh(u),
    dx = dy * (0.5 (1 + t) + 0.5 x (1 - t^2) du/dx),  du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2).
    """
    x = _as_float(x)
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
        t = np.tanh(inner)
        dinner = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x**2)
        return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * dinner)
    if approximate == "none":
        pdf = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)
        return dy * (_normal_cdf(x) + x * pdf)
    raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")


def _normal_cdf(x):
    erf = np.vectorize(math.erf, otypes=[x.dtype])
    return 0.5 * (1.0 + erf(x / math.sqrt(2.0)))


def silu(x):
    """SiLU (swish): x * sigmoid(x). The gate inside SwiGLU."""
    return x / (1.0 + np.exp(-x))


def silu_backward(dy, x):
    """dL/dx of y = silu(x) = x * s, s = sigmoid(x): dy * (s + x * s * (1 - s)), because
    ds/dx = s * (1 - s).  dy, x: same shape."""
    s = 1.0 / (1.0 + np.exp(-x))
    return dy * (s + x * s * (1.0 - s))
