"""softmax, log-softmax, cross-entropy and the activations: the NumPy reference, its torch twin
(minillm.functional) and torch.nn.functional agree, and every hand-written backward equals
torch.autograd."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _helpers import assert_close, leaf, randn, rng

import minillm.functional as tf
import minillm.np as mnp

# name -> (numpy forward, numpy backward taking (dy, x, y), minillm twin, torch.nn.functional)
ELEMENTWISE = {
    "softmax": (mnp.softmax, lambda dy, x, y: mnp.softmax_backward(dy, y),
                tf.softmax, lambda x: F.softmax(x, dim=-1)),
    "log_softmax": (mnp.log_softmax, lambda dy, x, y: mnp.log_softmax_backward(dy, y),
                    tf.log_softmax, lambda x: F.log_softmax(x, dim=-1)),
    "relu": (mnp.relu, lambda dy, x, y: mnp.relu_backward(dy, x), tf.relu, F.relu),
    "gelu": (mnp.gelu, lambda dy, x, y: mnp.gelu_backward(dy, x), tf.gelu, F.gelu),
    "gelu_tanh": (lambda x: mnp.gelu(x, "tanh"), lambda dy, x, y: mnp.gelu_backward(dy, x, "tanh"),
                  lambda x: tf.gelu(x, "tanh"), lambda x: F.gelu(x, approximate="tanh")),
    "silu": (mnp.silu, lambda dy, x, y: mnp.silu_backward(dy, x), tf.silu, F.silu),
}


def _input(dtype=np.float64):
    return (3 * randn(4, 5, 7, seed=1)).astype(dtype)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_numpy_forward_equals_the_twin_and_torch(name):
    forward, _, twin, reference = ELEMENTWISE[name]
    x = _input()
    y = forward(x)
    assert_close(y, twin(torch.tensor(x)), atol=1e-12)
    assert_close(y, reference(torch.tensor(x)), atol=1e-12)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_float32_forward_stays_within_1e_5_of_torch(name):
    forward, _, twin, reference = ELEMENTWISE[name]
    x = _input(np.float32)
    y = forward(x)
    assert y.dtype == np.float32
    assert_close(y, reference(torch.tensor(x)), atol=1e-5, rtol=1e-5)
    assert_close(twin(torch.tensor(x)), reference(torch.tensor(x)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_numpy_backward_equals_autograd(name):
    forward, backward, _, reference = ELEMENTWISE[name]
    x, dy = _input(), randn(4, 5, 7, seed=2)
    xt = leaf(x)
    (expected,) = torch.autograd.grad(reference(xt), xt, torch.tensor(dy))
    assert_close(backward(dy, x, forward(x)), expected)


def test_softmax_along_another_axis_matches_torch_forward_and_backward():
    x, dy = _input(), randn(4, 5, 7, seed=2)
    y = mnp.softmax(x, axis=1)
    xt = leaf(x)
    yt = F.softmax(xt, dim=1)
    (expected,) = torch.autograd.grad(yt, xt, torch.tensor(dy))
    assert_close(y, yt)
    assert_close(tf.softmax(torch.tensor(x), axis=1), yt)
    assert_close(mnp.softmax_backward(dy, y, axis=1), expected)


def test_softmax_gives_minus_inf_zero_probability_and_an_all_minus_inf_row_zeros():
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf]])
    for y in (mnp.softmax(x), tf.softmax(torch.tensor(x)).numpy()):
        assert not np.isnan(y).any()
        assert y[0, 1] == 0.0
        assert y[0].sum() == pytest.approx(1.0)
        assert (y[1] == 0.0).all()


def _logits_and_targets(ignore_index=-100):
    logits = 2 * randn(3, 4, 6, seed=3)
    targets = rng(4).integers(0, 6, size=(3, 4))
    targets[0, 1] = targets[2, 3] = ignore_index
    return logits, targets


@pytest.mark.parametrize("ignore_index", [-100, -1, 2])
def test_cross_entropy_equals_torch_and_skips_ignored_targets(ignore_index):
    logits, targets = _logits_and_targets(ignore_index)
    expected = F.cross_entropy(torch.tensor(logits).reshape(-1, 6),
                               torch.tensor(targets).reshape(-1), ignore_index=ignore_index)
    loss = mnp.cross_entropy(logits, targets, ignore_index)
    assert loss.shape == ()
    assert_close(loss, expected, atol=1e-12)
    assert_close(tf.cross_entropy(torch.tensor(logits), torch.tensor(targets), ignore_index),
                 expected, atol=1e-12)


@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("dloss", [1.0, 0.7])
def test_cross_entropy_backward_equals_autograd(ignore_index, dloss):
    logits, targets = _logits_and_targets(ignore_index)
    lt = leaf(logits)
    loss = F.cross_entropy(lt.reshape(-1, 6), torch.tensor(targets).reshape(-1),
                           ignore_index=ignore_index)
    (expected,) = torch.autograd.grad(loss, lt, torch.tensor(dloss, dtype=torch.float64))
    dlogits = mnp.cross_entropy_backward(dloss, logits, targets, ignore_index)
    assert_close(dlogits, expected)
    assert (dlogits[targets == ignore_index] == 0).all()


def test_cross_entropy_with_every_target_ignored_is_zero_not_nan():
    logits, targets = randn(2, 5, seed=5), np.full(2, -100)
    assert mnp.cross_entropy(logits, targets) == 0.0
    assert (mnp.cross_entropy_backward(1.0, logits, targets) == 0).all()
    assert tf.cross_entropy(torch.tensor(logits), torch.tensor(targets)).item() == 0.0


def test_log_softmax_stays_finite_where_softmax_underflows():
    x = np.array([[0.0, -1000.0, 1000.0]])
    expected = F.log_softmax(torch.tensor(x), dim=-1)
    assert_close(mnp.log_softmax(x), expected)
    assert_close(tf.log_softmax(torch.tensor(x)), expected)
    assert np.isfinite(mnp.log_softmax(x)).all()
