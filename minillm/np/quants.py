"""Quantized weights（量化权重）as GGUF files store them, and how to turn them back into floats.

A GGUF file (the format of llama.cpp) keeps most matrices in small fixed-size **blocks**: each
row of a matrix is cut into blocks of 32 consecutive numbers, and every block stores one or two
float16 numbers for the whole block plus a small integer code per element. Reading a weight back
("dequantizing") is one multiply (and add) per element.

    Q8_0  (34 bytes per 32 numbers, 8.5 bits each):
          bytes 0-1   d, float16            the block's scale
          bytes 2-33  q[0..31], int8        one signed code per element
          x[i] = d * q[i]

    Q4_1  (20 bytes per 32 numbers, 5 bits each):
          bytes 0-1   d, float16            the block's scale (step between two codes)
          bytes 2-3   m, float16            the block's minimum
          bytes 4-19  16 bytes, two 4-bit codes in each: byte j holds element j in its low
                      nibble (bits 0-3) and element j + 16 in its high nibble (bits 4-7)
          x[i] = d * q[i] + m,   q[i] in 0..15

Q4_1 spends 16 levels between the block's minimum and maximum (an *asymmetric* code); Q8_0 uses
256 levels symmetric around 0. The arithmetic is done in float32, as llama.cpp does it, so the
results are bit-identical to `gguf.quants.dequantize`.
"""
from __future__ import annotations

import numpy as np

BLOCK_SIZE = 32                                  # numbers per block, for both formats
BLOCK_BYTES = {"Q8_0": 2 + BLOCK_SIZE, "Q4_1": 2 + 2 + BLOCK_SIZE // 2}


def dequantize_q8_0(raw):
    """Q8_0 bytes -> float32 numbers: uint8 (..., n_blocks * 34) -> (..., n_blocks * 32)."""
    blocks = _blocks(raw, "Q8_0")
    d = _float16(blocks[:, 0:2])                                   # (n_blocks, 1)
    q = blocks[:, 2:].view(np.int8).astype(np.float32)             # (n_blocks, 32)
    return _unblocked(d * q, raw)


def dequantize_q4_1(raw):
    """Q4_1 bytes -> float32 numbers: uint8 (..., n_blocks * 20) -> (..., n_blocks * 32)."""
    blocks = _blocks(raw, "Q4_1")
    d = _float16(blocks[:, 0:2])                                   # (n_blocks, 1)
    m = _float16(blocks[:, 2:4])                                   # (n_blocks, 1)
    packed = blocks[:, 4:]                                         # (n_blocks, 16)
    low, high = packed & 0x0F, packed >> 4                         # elements 0..15, 16..31
    q = np.concatenate([low, high], axis=1).astype(np.float32)     # (n_blocks, 32)
    return _unblocked(d * q + m, raw)


DEQUANTIZE = {"Q8_0": dequantize_q8_0, "Q4_1": dequantize_q4_1}


def dequantize(raw, kind):
    """raw bytes of a tensor stored as kind ("Q8_0", "Q4_1"; "F32"/"F16" pass through as float32)
    -> float32 array whose last dimension holds 32 numbers per block."""
    if kind in ("F32", "F16"):
        return np.asarray(raw).astype(np.float32)
    if kind not in DEQUANTIZE:
        raise ValueError(f"cannot dequantize {kind!r}: minillm reads {sorted(DEQUANTIZE)}, "
                         "F16 and F32")
    return DEQUANTIZE[kind](raw)


def _blocks(raw, kind):
    """raw as (n_blocks, bytes per block) uint8, after checking it holds whole blocks."""
    raw = np.asarray(raw)
    if raw.dtype != np.uint8:
        raise ValueError(f"{kind} data must be raw bytes (uint8), got {raw.dtype}")
    size = BLOCK_BYTES[kind]
    if raw.ndim == 0 or raw.shape[-1] % size:
        raise ValueError(f"{kind} stores {BLOCK_SIZE} numbers in {size} bytes: a row of "
                         f"{raw.shape[-1] if raw.ndim else 0} bytes is not whole blocks")
    return np.ascontiguousarray(raw).reshape(-1, size)


def _float16(two_bytes):
    """(n_blocks, 2) uint8, little-endian float16 -> (n_blocks, 1) float32."""
    return np.ascontiguousarray(two_bytes).view("<f2").astype(np.float32)


def _unblocked(values, raw):
    """(n_blocks, 32) -> raw's leading shape, with 32 numbers per block in the last dimension."""
    return values.reshape(*np.shape(raw)[:-1], -1)
