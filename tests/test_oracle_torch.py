"""minillm against PyTorch's own implementations, with the weights copied across.

Every check runs both minillm implementations, the PyTorch twin and the NumPy reference, in
float32 (largest |difference| <= 1e-5) and float64 (<= 1e-10). Mask conventions differ: minillm
and F.scaled_dot_product_attention say True = may attend; nn.MultiheadAttention and the
nn.Transformer*Layer masks say True = BLOCKED, so minillm gets `~mask`.
"""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import minillm
import minillm.np as mnp
from minillm.convert import (
    from_torch_decoder_layer,
    from_torch_encoder_layer,
    from_torch_multihead_attention,
    load_into,
    max_abs_diff,
)
from minillm.functional import cross_entropy, gelu

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}
DTYPES = pytest.mark.parametrize("dtype", list(TOLERANCE), ids=["float32", "float64"])
D_MODEL, N_HEADS, D_FF = 16, 4, 32


def assert_equal_to_reference(reference, *ours, dtype):
    """Each of ours (tensor or array) is within the dtype's tolerance of the reference."""
    for got in ours:
        diff = max_abs_diff(reference, got)
        assert diff <= TOLERANCE[dtype], f"max |difference| {diff:.3g} > {TOLERANCE[dtype]:g}"


def as_numpy(state):
    return {name: value.detach().numpy() for name, value in state.items()}


def perturbed(module, dtype):
    """module in dtype with every parameter nudged off its initial value, so that zero biases and
    unit norm gains (which would hide a swapped or dropped weight) are exercised too."""
    module = module.to(dtype)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return module


def blocked_pattern(seq_q, seq_k):
    """(seq_q, seq_k) bool, True = BLOCKED, irregular, every query keeps at least one key."""
    blocked = torch.rand(seq_q, seq_k) < 0.4
    blocked[:, 0] = False
    return blocked


def key_padding(batch, seq_k, n_pad=2):
    """(batch, seq_k) bool, True = padding (BLOCKED): the last sequence ends n_pad keys early."""
    pad = torch.zeros(batch, seq_k, dtype=torch.bool)
    pad[-1, seq_k - n_pad:] = True
    return pad


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ---- scaled dot-product attention ---------------------------------------------------------------


@DTYPES
@pytest.mark.parametrize("masking", ["none", "causal", "bool"])
def test_attention_equals_torch_scaled_dot_product_attention(masking, dtype):
    seq_q = 6 if masking == "causal" else 5
    q = torch.randn(2, N_HEADS, seq_q, 8, dtype=dtype)
    k, v = torch.randn(2, N_HEADS, 6, 8, dtype=dtype), torch.randn(2, N_HEADS, 6, 8, dtype=dtype)
    if masking == "causal":
        # Square on purpose: for seq_q < seq_k, is_causal keeps the top-left triangle (query i sees
        # keys 0..i) while minillm's causal_mask aligns the queries with the *last* keys (a cache).
        mask = minillm.causal_mask(seq_q)
        reference = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    else:
        mask = None if masking == "none" else ~blocked_pattern(seq_q, 6)   # True = may attend
        reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    fused, _ = minillm.scaled_dot_product_attention(q, k, v, mask, need_weights=False)
    explicit, _ = minillm.scaled_dot_product_attention(q, k, v, mask, need_weights=True)
    reference_np, _ = mnp.scaled_dot_product_attention(
        q.numpy(), k.numpy(), v.numpy(), None if mask is None else mask.numpy())
    assert_equal_to_reference(reference, fused, explicit, reference_np, dtype=dtype)


# ---- nn.MultiheadAttention ----------------------------------------------------------------------


@DTYPES
@pytest.mark.parametrize("bias", [True, False])
def test_multi_head_attention_equals_nn_multihead_attention(bias, dtype):
    mha = perturbed(nn.MultiheadAttention(D_MODEL, N_HEADS, bias=bias, batch_first=True), dtype)
    ours = load_into(minillm.MultiHeadAttention(D_MODEL, N_HEADS, bias=bias).to(dtype),
                     from_torch_multihead_attention(mha))
    params = as_numpy(from_torch_multihead_attention(mha))
    x_q, x_kv = torch.randn(2, 5, D_MODEL, dtype=dtype), torch.randn(2, 6, D_MODEL, dtype=dtype)
    attn_blocked, pad = blocked_pattern(5, 6), key_padding(2, 6)
    may_attend = ~attn_blocked & ~pad[:, None, None, :]          # (batch, 1, seq_q, seq_k)

    out, per_head = mha(x_q, x_kv, x_kv, key_padding_mask=pad, attn_mask=attn_blocked,
                        average_attn_weights=False)
    _, averaged = mha(x_q, x_kv, x_kv, key_padding_mask=pad, attn_mask=attn_blocked)
    our_out, our_weights = ours(x_q, x_kv, may_attend, need_weights=True)
    np_out, np_weights = mnp.multi_head_attention(params, x_q.numpy(), x_kv.numpy(),
                                                  may_attend.numpy(), N_HEADS)
    assert_equal_to_reference(out, our_out, np_out, dtype=dtype)
    assert_equal_to_reference(per_head, our_weights, np_weights, dtype=dtype)
    assert_equal_to_reference(averaged, our_weights.mean(dim=1), np_weights.mean(axis=1),
                              dtype=dtype)


def test_multihead_attention_with_extra_key_positions_is_refused():
    mha = nn.MultiheadAttention(D_MODEL, N_HEADS, add_bias_kv=True, batch_first=True)
    with pytest.raises(ValueError, match="add_bias_kv"):
        from_torch_multihead_attention(mha)


# ---- nn.TransformerEncoderLayer / nn.TransformerDecoderLayer ------------------------------------
# These are run with autograd on: PyTorch's inference "fast path" (no grad, eval mode) returns
# nested tensors with padded positions set to 0, a different convention from the formula.

LAYER_VARIANTS = pytest.mark.parametrize(
    "norm_first, activation", [(False, "relu"), (False, "gelu"), (True, "relu"), (True, "gelu")])


def torch_encoder_layer(norm_first, activation, dtype):
    layer = nn.TransformerEncoderLayer(D_MODEL, N_HEADS, D_FF, dropout=0.0, activation=activation,
                                       layer_norm_eps=1e-6, batch_first=True, norm_first=norm_first)
    return perturbed(layer, dtype).eval()


def torch_decoder_layer(norm_first, activation, dtype):
    layer = nn.TransformerDecoderLayer(D_MODEL, N_HEADS, D_FF, dropout=0.0, activation=activation,
                                       layer_norm_eps=1e-6, batch_first=True, norm_first=norm_first)
    return perturbed(layer, dtype).eval()


def encoder_inputs(dtype, seq=6):
    """x, PyTorch's masks (True = BLOCKED) and minillm's mask (True = may attend)."""
    x = torch.randn(2, seq, D_MODEL, dtype=dtype, requires_grad=True)
    future = ~minillm.causal_mask(seq)
    pad = key_padding(2, seq)
    return x, future, pad, ~future & ~pad[:, None, None, :]


@DTYPES
@LAYER_VARIANTS
def test_encoder_layer_equals_nn_transformer_encoder_layer(norm_first, activation, dtype):
    layer = torch_encoder_layer(norm_first, activation, dtype)
    cfg, state = from_torch_encoder_layer(layer)
    assert (cfg.norm_first, cfg.activation, cfg.norm_eps) == (norm_first, activation, 1e-6)
    ours = load_into(minillm.EncoderLayer(cfg).to(dtype).eval(), state)
    x, future, pad, may_attend = encoder_inputs(dtype)

    reference = layer(x, src_mask=future, src_key_padding_mask=pad)
    our_y, _ = ours(x, may_attend)
    np_y, _ = mnp.encoder_layer(as_numpy(state), x.detach().numpy(), cfg, may_attend.numpy())
    assert_equal_to_reference(reference, our_y, np_y, dtype=dtype)


@DTYPES
@LAYER_VARIANTS
def test_decoder_layer_equals_nn_transformer_decoder_layer(norm_first, activation, dtype):
    layer = torch_decoder_layer(norm_first, activation, dtype)
    cfg, state = from_torch_decoder_layer(layer)
    ours = load_into(minillm.DecoderLayer(cfg).to(dtype).eval(), state)
    x, future, tgt_pad, self_mask = encoder_inputs(dtype, seq=5)
    memory = torch.randn(2, 7, D_MODEL, dtype=dtype)
    memory_pad = key_padding(2, 7, n_pad=3)
    memory_mask = ~memory_pad[:, None, None, :]

    reference = layer(x, memory, tgt_mask=future, tgt_key_padding_mask=tgt_pad,
                      memory_key_padding_mask=memory_pad)
    our_y, _, _ = ours(x, memory, self_mask, memory_mask)
    np_y, _, _ = mnp.decoder_layer(as_numpy(state), x.detach().numpy(), memory.numpy(), cfg,
                                   self_mask.numpy(), memory_mask.numpy())
    assert_equal_to_reference(reference, our_y, np_y, dtype=dtype)


def gradients_as_module(module):
    """A copy of module whose parameter values are its gradients. The converters only re-key,
    split and transpose (linear maps), so converting this copy keys the gradients like minillm's."""
    grads = copy.deepcopy(module)
    with torch.no_grad():
        for g, p in zip(grads.parameters(), module.parameters()):
            g.copy_(p.grad)
    return grads


@DTYPES
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_backward_equals_torch_autograd(norm_first, dtype):
    layer = torch_encoder_layer(norm_first, "gelu", dtype)
    cfg, state = from_torch_encoder_layer(layer)
    x, future, pad, may_attend = encoder_inputs(dtype)
    dy = torch.randn(2, 6, D_MODEL, dtype=dtype)
    (layer(x, src_mask=future, src_key_padding_mask=pad) * dy).sum().backward()

    dx, grads = mnp.encoder_layer_backward(dy.numpy(), as_numpy(state), x.detach().numpy(), cfg,
                                           may_attend.numpy())
    _, expected = from_torch_encoder_layer(gradients_as_module(layer))
    assert_equal_to_reference(x.grad, dx, dtype=dtype)
    assert grads.keys() == expected.keys()
    for name in expected:
        assert_equal_to_reference(expected[name], grads[name], dtype=dtype)


@DTYPES
def test_decoder_layer_backward_equals_torch_autograd(dtype):
    layer = torch_decoder_layer(True, "relu", dtype)
    cfg, state = from_torch_decoder_layer(layer)
    x, future, tgt_pad, self_mask = encoder_inputs(dtype, seq=5)
    memory = torch.randn(2, 7, D_MODEL, dtype=dtype, requires_grad=True)
    memory_pad = key_padding(2, 7, n_pad=3)
    dy = torch.randn(2, 5, D_MODEL, dtype=dtype)
    y = layer(x, memory, tgt_mask=future, tgt_key_padding_mask=tgt_pad,
              memory_key_padding_mask=memory_pad)
    (y * dy).sum().backward()

    dx, dmemory, grads = mnp.decoder_layer_backward(
        dy.numpy(), as_numpy(state), x.detach().numpy(), memory.detach().numpy(), cfg,
        self_mask.numpy(), ~memory_pad[:, None, None, :].numpy())
    _, expected = from_torch_decoder_layer(gradients_as_module(layer))
    assert_equal_to_reference(x.grad, dx, dtype=dtype)
    assert_equal_to_reference(memory.grad, dmemory, dtype=dtype)
    assert grads.keys() == expected.keys()
    for name in expected:
        assert_equal_to_reference(expected[name], grads[name], dtype=dtype)


def test_encoder_layer_config_reads_the_torch_layer():
    layer = nn.TransformerEncoderLayer(D_MODEL, N_HEADS, D_FF, dropout=0.1, batch_first=True,
                                       activation=nn.GELU(approximate="tanh"), bias=False)
    cfg, state = from_torch_encoder_layer(layer)
    assert (cfg.d_model, cfg.n_heads, cfg.d_ff) == (D_MODEL, N_HEADS, D_FF)
    assert (cfg.activation, cfg.bias, cfg.dropout, cfg.norm_eps) == ("gelu_tanh", False, 0.1, 1e-5)
    assert not any(name.endswith("bias") for name in state)
    load_into(minillm.EncoderLayer(cfg), state)


# ---- norms, activations, loss -------------------------------------------------------------------


@DTYPES
@pytest.mark.parametrize("eps", [1e-5, 1e-12])
def test_layer_norm_equals_nn_layer_norm(eps, dtype):
    reference = perturbed(nn.LayerNorm(D_MODEL, eps=eps), dtype)
    ours = load_into(minillm.LayerNorm(D_MODEL, eps).to(dtype), reference.state_dict())
    x = 3 * torch.randn(2, 5, D_MODEL, dtype=dtype) + 1
    np_y = mnp.layer_norm(as_numpy(reference.state_dict()), x.numpy(), eps)
    assert_equal_to_reference(reference(x), ours(x), np_y, dtype=dtype)


@DTYPES
def test_rms_norm_equals_nn_rms_norm(dtype):
    # nn.RMSNorm's default eps=None means finfo(dtype).eps, not Llama's 1e-6: pass it explicitly.
    reference = perturbed(nn.RMSNorm(D_MODEL, eps=1e-6), dtype)
    ours = load_into(minillm.RMSNorm(D_MODEL, 1e-6).to(dtype), reference.state_dict())
    x = 3 * torch.randn(2, 5, D_MODEL, dtype=dtype)
    np_y = mnp.rms_norm(as_numpy(reference.state_dict()), x.numpy(), 1e-6)
    assert_equal_to_reference(reference(x), ours(x), np_y, dtype=dtype)


@DTYPES
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_equals_torch_gelu(approximate, dtype):
    x = torch.linspace(-6, 6, 241, dtype=dtype)
    reference = F.gelu(x, approximate=approximate)
    ours = gelu(x, approximate)
    assert_equal_to_reference(reference, ours, mnp.gelu(x.numpy(), approximate), dtype=dtype)


@DTYPES
def test_cross_entropy_and_its_gradient_equal_torch_cross_entropy(dtype):
    logits = (3 * torch.randn(4, 5, 11, dtype=dtype)).requires_grad_()
    targets = torch.randint(0, 11, (4, 5))
    targets[0, :2] = -100                                          # ignored positions
    reference = F.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1), ignore_index=-100)
    reference.backward()
    ours = cross_entropy(logits, targets)
    np_loss = mnp.cross_entropy(logits.detach().numpy(), targets.numpy())
    np_grad = mnp.cross_entropy_backward(1.0, logits.detach().numpy(), targets.numpy())
    assert_equal_to_reference(reference, ours, np.asarray(np_loss), dtype=dtype)
    assert_equal_to_reference(logits.grad, np_grad, dtype=dtype)
