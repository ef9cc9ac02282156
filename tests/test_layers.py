"""Layers with weights: the NumPy reference runs the torch twin's state_dict to the same outputs,
and its hand-written backward gives autograd's gradients for the input and every parameter."""
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _helpers import (
    assert_close,
    assert_grads_close,
    leaf,
    param_grads,
    randn,
    randomized,
    rng,
    to_np_params,
)

import minillm as M
import minillm.np as mnp


def _check_twin_and_backward(module, forward, backward, x):
    """forward(params, x) equals module(x); backward(dy, params, x) equals autograd."""
    params = to_np_params(module)
    xt = leaf(x)
    yt = module(xt)
    y = forward(params, x)
    assert_close(y, yt, atol=1e-12)

    dy = randn(*y.shape, seed=7)
    yt.backward(torch.tensor(dy))
    dx, grads = backward(dy, params, x)
    assert_close(dx, xt.grad)
    assert_grads_close(grads, param_grads(module))


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_twin_and_autograd(bias):
    module = randomized(M.Linear(5, 3, bias=bias))
    _check_twin_and_backward(module, mnp.linear, mnp.linear_backward, randn(2, 4, 5))


def test_linear_equals_x_times_weight_transposed_plus_bias():
    module = randomized(M.Linear(5, 3))
    x = randn(4, 5)
    assert_close(mnp.linear(to_np_params(module), x),
                 F.linear(torch.tensor(x), module.weight, module.bias), atol=1e-12)


def test_embedding_looks_up_rows_like_the_twin():
    module = randomized(M.Embedding(10, 4))
    ids = np.array([[1, 3, 3], [9, 0, 3]])
    out = mnp.embedding(to_np_params(module), ids)
    assert_close(out, module(torch.tensor(ids)), atol=0)
    assert_close(out[1, 0], to_np_params(module)["weight"][9], atol=0)


def test_embedding_backward_adds_up_gradients_of_repeated_ids():
    module = randomized(M.Embedding(10, 4))
    ids = np.array([[1, 3, 3], [9, 0, 3]])
    dy = randn(2, 3, 4, seed=1)
    module(torch.tensor(ids)).backward(torch.tensor(dy))
    dx, grads = mnp.embedding_backward(dy, to_np_params(module), ids)
    assert dx is None
    assert_grads_close(grads, param_grads(module))
    assert_close(grads["weight"][3], dy[0, 1] + dy[0, 2] + dy[1, 2])
    assert (grads["weight"][[2, 4, 5, 6, 7, 8]] == 0).all()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("eps", [1e-5, 1e-12])
def test_layer_norm_matches_twin_torch_and_autograd(bias, eps):
    module = randomized(M.LayerNorm(6, eps=eps, bias=bias))
    x = 2 + 3 * randn(2, 4, 6)
    forward = partial(mnp.layer_norm, eps=eps)
    backward = partial(mnp.layer_norm_backward, eps=eps)
    _check_twin_and_backward(module, forward, backward, x)
    expected = F.layer_norm(torch.tensor(x), (6,), module.weight, module.bias, eps)
    assert_close(forward(to_np_params(module), x), expected, atol=1e-12)


@pytest.mark.parametrize("eps", [1e-6, 1e-2])
def test_rms_norm_matches_twin_torch_and_autograd(eps):
    module = randomized(M.RMSNorm(6, eps=eps))
    x = 3 * randn(2, 4, 6)
    forward = partial(mnp.rms_norm, eps=eps)
    backward = partial(mnp.rms_norm_backward, eps=eps)
    _check_twin_and_backward(module, forward, backward, x)
    expected = F.rms_norm(torch.tensor(x), (6,), module.weight, eps)
    assert_close(forward(to_np_params(module), x), expected, atol=1e-12)


@pytest.mark.parametrize("kind", ["layer", "rms"])
def test_norm_dispatches_like_build_norm(kind):
    module = randomized(M.build_norm(6, kind, eps=1e-5))
    _check_twin_and_backward(module, partial(mnp.norm, kind=kind, eps=1e-5),
                             partial(mnp.norm_backward, kind=kind, eps=1e-5), randn(3, 6))


@pytest.mark.parametrize("activation", ["relu", "gelu", "gelu_tanh", "swiglu"])
@pytest.mark.parametrize("bias", [True, False])
def test_feed_forward_matches_twin_and_autograd(activation, bias):
    module = randomized(M.FeedForward(6, 10, activation, bias))
    _check_twin_and_backward(module, partial(mnp.feed_forward, activation=activation),
                             partial(mnp.feed_forward_backward, activation=activation),
                             randn(2, 3, 6))


def test_swiglu_matches_twin_and_autograd():
    module = randomized(M.SwiGLU(6, 10))
    assert sorted(to_np_params(module)) == ["down.weight", "gate.weight", "up.weight"]
    _check_twin_and_backward(module, mnp.swiglu, mnp.swiglu_backward, randn(2, 3, 6))


def test_swiglu_is_down_of_silu_gate_times_up():
    module = randomized(M.SwiGLU(6, 10))
    p, x = to_np_params(module), rng(3).standard_normal((5, 6))
    gate, up = x @ p["gate.weight"].T, x @ p["up.weight"].T
    expected = (gate / (1 + np.exp(-gate)) * up) @ p["down.weight"].T
    assert_close(mnp.swiglu(p, x), expected, atol=1e-12)
