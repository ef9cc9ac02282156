"""Post-training weight quantization（量化）: int8 / int4 per-channel weights of Linear layers.

Each output channel (row of a Linear weight W: (out, in)) gets its own scale
s = max|W_row| / q_max, with q_max = 2^(bits-1) - 1 (127 for int8, 7 for int4); the stored
integers are q = round(W / s), clamped to [-q_max, q_max]; the layer computes with the
dequantized weight q * s. Only the integers and one float32 scale per row are kept, so a weight
takes bits/8 bytes per number instead of 4 (int4 numbers are counted packed two per byte).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from minillm.checks import check_last_dim


def _check_bits(bits):
    if bits not in (2, 3, 4, 5, 6, 7, 8):
        raise ValueError(f"bits must be an integer from 2 to 8, got {bits!r}")


def quantize_per_channel(weight, bits=8):
    """weight: (out, in) float -> (q (out, in) int8 holding values in [-q_max, q_max],
    scale (out, 1) float32), with scale = max|row| / q_max (a zero row gets scale 1)."""
    _check_bits(bits)
    if weight.ndim != 2:
        raise ValueError(f"weight must be a matrix (out, in), got shape {tuple(weight.shape)}")
    q_max = 2 ** (bits - 1) - 1
    scale = weight.detach().abs().amax(dim=1, keepdim=True).float() / q_max
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(weight.detach() / scale), -q_max, q_max).to(torch.int8)
    return q, scale


def dequantize(q, scale):
    """q: (out, in) ints, scale: (out, 1) -> the float32 weight q * scale, (out, in)."""
    return q.float() * scale


class QuantizedLinear(nn.Module):
    """A Linear whose weight is stored as `bits`-bit integers with one scale per output row.

    x: (..., in) -> (..., out) = x (q * scale)^T + bias. The weight is dequantized on the fly:
    this is weight-only quantization, which saves memory, not arithmetic.
    """

    def __init__(self, linear: nn.Linear, bits=8):
        super().__init__()
        self.bits = bits
        self.in_features, self.out_features = linear.in_features, linear.out_features
        q, scale = quantize_per_channel(linear.weight, bits)
        self.register_buffer("q", q)
        self.register_buffer("scale", scale)
        bias = None if linear.bias is None else linear.bias.detach().clone()
        self.register_buffer("bias", bias)

    @property
    def weight(self):
        """The dequantized weight q * scale, (out, in): code that reads `.weight` (a DecoderLM's
        output head) sees the quantized numbers."""
        return dequantize(self.q, self.scale)

    def forward(self, x):
        check_last_dim("x", x, self.in_features, "in_features")
        return nn.functional.linear(x, self.weight, self.bias)

    def nbytes(self):
        """Bytes to store this layer: the packed integers, the float32 scales and the bias."""
        bias = 0 if self.bias is None else self.bias.numel() * self.bias.element_size()
        return -(-self.q.numel() * self.bits // 8) + self.scale.numel() * 4 + bias


def quantize_model(model, bits=8):
    """A copy of model with every Linear replaced by a QuantizedLinear(bits); the original is
    untouched. Embedding tables and norm gains stay float32."""
    _check_bits(bits)
    quantized = copy.deepcopy(model)
    for module in list(quantized.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                setattr(module, child_name, QuantizedLinear(child, bits))
    return quantized.eval()


def model_nbytes(model):
    """Bytes to store model's weights: QuantizedLinear layers count their packed integers and
    scales, every other parameter and buffer its elements times their size."""
    total = 0
    for module in model.modules():
        if isinstance(module, QuantizedLinear):
            total += module.nbytes()
            continue
        own = [*module.parameters(recurse=False), *module.buffers(recurse=False)]
        total += sum(t.numel() * t.element_size() for t in own)
    return total
