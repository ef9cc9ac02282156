"""Per-channel weight quantization: round-trip error, sizes, a quantized model stays close."""
import pytest
import torch

from minillm import DecoderLM, TransformerConfig
from minillm.layers import Linear
from minillm.quantize import (
    QuantizedLinear,
    dequantize,
    model_nbytes,
    quantize_model,
    quantize_per_channel,
)


def test_per_channel_scale_is_row_max_over_qmax_and_error_is_at_most_half_a_step():
    w = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    for bits in (8, 4):
        q, scale = quantize_per_channel(w, bits)
        q_max = 2 ** (bits - 1) - 1
        torch.testing.assert_close(scale, w.abs().amax(dim=1, keepdim=True) / q_max)
        assert q.dtype == torch.int8 and int(q.abs().max()) == q_max
        assert ((dequantize(q, scale) - w).abs() <= scale / 2 + 1e-7).all()


def test_a_zero_row_stays_zero():
    q, scale = quantize_per_channel(torch.zeros(2, 3))
    assert torch.equal(dequantize(q, scale), torch.zeros(2, 3))


def test_quantized_linear_matches_linear_with_dequantized_weight_and_counts_packed_bytes():
    torch.manual_seed(0)
    linear = Linear(8, 6, bias=True)
    layer = QuantizedLinear(linear, bits=4)
    x = torch.randn(3, 8)
    expected = x @ dequantize(layer.q, layer.scale).T + linear.bias
    torch.testing.assert_close(layer(x), expected)
    assert layer.nbytes() == 8 * 6 // 2 + 6 * 4 + 6 * 4


def test_quantize_model_shrinks_linear_weights_and_keeps_the_outputs_close():
    torch.manual_seed(0)
    model = DecoderLM(TransformerConfig.llama_like(vocab_size=50, d_model=32, n_heads=2)).eval()
    ids = torch.randint(50, (2, 10))
    int8 = quantize_model(model, 8)
    assert not any(isinstance(m, QuantizedLinear) for m in model.modules())
    assert model_nbytes(int8) < model_nbytes(model)
    assert model_nbytes(model) == sum(p.numel() * 4 for p in model.parameters())
    with torch.no_grad():
        assert (int8(ids)[0] - model(ids)[0]).abs().max() < 0.01


def test_bad_bits_and_shapes_are_refused():
    with pytest.raises(ValueError, match="bits"):
        quantize_per_channel(torch.ones(2, 2), bits=16)
    with pytest.raises(ValueError, match="matrix"):
        quantize_per_channel(torch.ones(3))
