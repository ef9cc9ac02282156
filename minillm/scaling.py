"""Scaling laws（缩放定律）: what a model costs to train, and how its loss falls with size.

- `non_embedding_parameters(model)`: N, the weights outside the embedding tables, the count that
  Kaplan et al. (2020) plot loss against. The tables are only looked up, so they cost no
  multiplications; every other weight matrix is used once per token in a multiply and an add.
- `training_flops(n_params, n_tokens)`: C ≈ 6 N D, the forward pass's 2N per token plus a
  backward pass that costs twice the forward (chapter 7 §4 counts both with PyTorch's counter).
- `fit_power_law(x, y)`: y = a · x^(-alpha) + c, the shape of a scaling law, fitted to a few
  measured points; or, with offset=False, the straight line log y = log a - alpha · log x.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from torch import nn

from minillm.config import check_number
from minillm.layers import Embedding
from minillm.positional import LearnedPositions

EMBEDDING_TABLES = (nn.Embedding, Embedding, LearnedPositions)


def non_embedding_parameters(model):
    """N: the number of parameters outside the embedding tables (token, position and segment
    embeddings), each tensor counted once.

    A head tied to the token embedding (`tie_embeddings=True`) is left out with the table it
    shares, as Kaplan et al. do; an untied head (`lm_head`) is a weight matrix like any other and
    counts. Norm gains and biases count too (they are few: a forward pass costs 2N FLOPs per token
    up to them and to attention's own products).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    in_tables = {id(p) for module in model.modules() if isinstance(module, EMBEDDING_TABLES)
                 for p in module.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in in_tables)


def training_flops(n_params, n_tokens):
    """C ≈ 6 N D: the FLOPs of training a model of N (non-embedding) weights on D tokens.

    Per token, the forward pass multiplies and adds with every weight once (2N); the backward pass
    computes the gradients of the inputs and of the weights (2N each, 4N). Attention's own
    products (4 · n_layers · seq · d_model per token forward) are left out, as in the rule.
    """
    check_number("n_params", n_params, at_least=0)
    check_number("n_tokens", n_tokens, at_least=0)
    return 6 * n_params * n_tokens


class PowerLaw(NamedTuple):
    """y = a · x^(-alpha) + c. Call it on x (a number or an array) to get the fitted y."""

    a: float
    alpha: float
    c: float

    def __call__(self, x):
        return self.a * np.asarray(x, dtype=float) ** -self.alpha + self.c


def _line_in_log_log(x, y):
    # least squares of log y = log a - alpha log x: (a, alpha)
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(np.exp(intercept)), float(-slope)


def fit_power_law(x, y, offset=True, grid=2000):
    """PowerLaw(a, alpha, c) fitted to the points (x_i, y_i), e.g. x = parameters, y = loss.

    x, y: 1-D sequences of the same length, all values positive and finite.
    offset=False: c = 0, and (a, alpha) is the least-squares straight line in log-log axes
    (2 points or more). offset=True: c, the loss that no size removes, is chosen among `grid`
    values evenly spaced in [0, min(y)); for each the straight line is fitted to log(y - c), and
    the c whose curve is closest to the points (least squares in y) wins (3 points or more).
    With a handful of noisy points the offset fit is loose: c and alpha trade off against each
    other, so read alpha together with c, never alone.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D and of the same length, got shapes {x.shape} and "
                         f"{y.shape}")
    needed = 3 if offset else 2
    if len(x) < needed:
        raise ValueError(f"fitting {'a, alpha and c' if offset else 'a and alpha'} needs at least "
                         f"{needed} points, got {len(x)}")
    for name, values in (("x", x), ("y", y)):
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise ValueError(f"{name} must hold positive finite numbers (a power law lives on "
                             f"log axes), got {values.tolist()}")
    if len(np.unique(x)) < 2:
        raise ValueError(f"x needs at least 2 different values to fit a slope, got {x.tolist()}")
    if not offset:
        return PowerLaw(*_line_in_log_log(x, y), 0.0)
    best, best_error = None, np.inf
    for c in np.linspace(0.0, y.min(), grid, endpoint=False):
        law = PowerLaw(*_line_in_log_log(x, y - c), float(c))
        error = float(np.sum((law(x) - y) ** 2))
        if error < best_error:
            best, best_error = law, error
    return best
