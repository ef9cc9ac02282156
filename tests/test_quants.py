"""GGUF's quantized blocks read back by minillm.np.quants: a block built by hand decodes to the
numbers its layout promises, and random blocks decode bit for bit as gguf.quants.dequantize does
(the real SmolLM2 file is checked in tests/test_smollm2.py)."""
import numpy as np
import pytest

from minillm.np import quants

gguf = pytest.importorskip("gguf")


def q8_0_block(d, q):
    return np.concatenate([np.frombuffer(np.float16(d).tobytes(), np.uint8),
                           np.asarray(q, np.int8).view(np.uint8)])


def q4_1_block(d, m, q):
    q = np.asarray(q, np.uint8)
    packed = q[:16] | (q[16:] << 4)          # element j in the low nibble, j + 16 in the high
    scales = np.array([d, m], np.float16).view(np.uint8)
    return np.concatenate([scales, packed])


def test_a_q8_0_block_is_its_scale_times_its_codes():
    q = np.arange(-16, 16)
    assert quants.dequantize_q8_0(q8_0_block(0.25, q)).tolist() == (0.25 * q).tolist()


def test_a_q4_1_block_is_scale_times_code_plus_minimum_low_nibbles_first():
    q = np.r_[np.arange(16), 15 - np.arange(16)]
    block = q4_1_block(0.5, -2.0, q)
    assert len(block) == quants.BLOCK_BYTES["Q4_1"] == 20
    assert block[4] == 0x0F << 4 | 0x00          # elements 0 (low) and 16 (high) share byte 4
    assert quants.dequantize_q4_1(block).tolist() == (0.5 * q - 2.0).tolist()


def random_blocks(kind, rows, blocks_per_row, seed):
    """Random codes and random finite float16 scales, as raw bytes (rows, bytes per row)."""
    rng = np.random.default_rng(seed)
    n = rows * blocks_per_row
    raw = rng.integers(0, 256, size=(n, quants.BLOCK_BYTES[kind]), dtype=np.uint8)
    n_scales = 1 if kind == "Q8_0" else 2
    scales = (rng.standard_normal((n, n_scales)) * 10.0 ** rng.integers(-6, 3, (n, 1)))
    raw[:, :2 * n_scales] = scales.astype(np.float16).view(np.uint8)
    return raw.reshape(rows, -1)


@pytest.mark.parametrize("kind", ["Q8_0", "Q4_1"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_blocks_dequantize_bit_for_bit_like_gguf(kind, seed):
    raw = random_blocks(kind, rows=7, blocks_per_row=5, seed=seed)
    ours = quants.dequantize(raw, kind)
    theirs = gguf.quants.dequantize(raw, gguf.GGMLQuantizationType[kind])
    assert ours.shape == theirs.shape == (7, 5 * 32) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours.view(np.uint32), theirs.view(np.uint32))


def test_bytes_that_are_not_whole_blocks_are_refused():
    with pytest.raises(ValueError, match="Q4_1 stores 32 numbers in 20 bytes"):
        quants.dequantize_q4_1(np.zeros((2, 30), np.uint8))
    with pytest.raises(ValueError, match="raw bytes"):
        quants.dequantize_q8_0(np.zeros(34, np.float32))
    with pytest.raises(ValueError, match="cannot dequantize 'Q5_K'"):
        quants.dequantize(np.zeros(34, np.uint8), "Q5_K")
