"""Positional information: the sinusoidal table follows its formula, learned positions and their
backward match the twin, and rotary embeddings rotate (norms kept, scores depend only on the
offset m - n) with a backward equal to autograd."""
import math

import numpy as np
import pytest
import torch
from _helpers import assert_close, leaf, randn, randomized, to_np_params

import minillm as M
import minillm.np as mnp
import minillm.positional as tpos


def test_sinusoidal_table_follows_the_formula():
    table = mnp.sinusoidal_encoding(50, 16)
    assert table.shape == (50, 16)
    assert (table[0, 0::2] == 0).all() and (table[0, 1::2] == 1).all()
    for pos, i in [(1, 0), (7, 3), (49, 7)]:
        angle = pos / 10000 ** (2 * i / 16)
        assert table[pos, 2 * i] == pytest.approx(math.sin(angle), abs=1e-14)
        assert table[pos, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-14)
    other_base = mnp.sinusoidal_encoding(4, 16, base=100.0)
    assert other_base[3, 2] == pytest.approx(math.sin(3 / 100 ** (2 / 16)), abs=1e-14)


def test_sinusoidal_table_equals_its_twin_and_stays_in_minus_one_to_one():
    table = mnp.sinusoidal_encoding(200, 32)
    assert_close(table, M.sinusoidal_encoding(200, 32), atol=1e-12)
    assert np.abs(table).max() <= 1.0


def test_learned_positions_are_the_first_rows_of_the_table():
    module = randomized(M.LearnedPositions(10, 4))
    params = to_np_params(module)
    assert_close(mnp.learned_positions(params, 6), module(6), atol=0)
    assert (mnp.learned_positions(params, 6) == params["weight"][:6]).all()


def test_learned_positions_backward_sums_over_the_batch_and_skips_unused_rows():
    module = randomized(M.LearnedPositions(10, 4))
    dy = randn(3, 6, 4)
    # positions are added to a (batch, seq, d) activation, so each row's gradient sums the batch
    (torch.zeros(3, 6, 4, dtype=torch.float64) + module(6)).backward(torch.tensor(dy))
    dx, grads = mnp.learned_positions_backward(dy, to_np_params(module), 6)
    assert dx is None
    assert_close(grads["weight"], module.weight.grad)
    assert (grads["weight"][6:] == 0).all()


@pytest.mark.parametrize("offset", [0, 5])
@pytest.mark.parametrize("base", [10000.0, 500.0])
def test_rope_equals_its_twin(offset, base):
    x = randn(2, 3, 7, 8)
    assert_close(mnp.rope(x, base, offset), M.rope(torch.tensor(x), base, offset), atol=1e-12)
    cos, sin = mnp.rope_angles(7, 8, base, offset)
    t_cos, t_sin = tpos.rope_angles(7, 8, base, offset, dtype=torch.float64)
    assert_close(cos, t_cos, atol=1e-12)
    assert_close(sin, t_sin, atol=1e-12)


def test_rope_pairs_dimension_j_with_j_plus_half():
    x = np.zeros((2, 4))
    x[1, 0] = 1.0                                          # position 1, first pair, first half
    rotated = mnp.rope(x)
    assert rotated[1, 0] == pytest.approx(math.cos(1.0))   # pair 0 turns by angle 1 * base^0
    assert rotated[1, 2] == pytest.approx(math.sin(1.0))
    assert rotated[1, 1] == rotated[1, 3] == 0
    assert (mnp.rotate_half(mnp.rotate_half(x)) == -x).all()


def test_rope_keeps_every_vector_length():
    x = randn(2, 9, 16)
    assert_close(np.linalg.norm(mnp.rope(x, offset=3), axis=-1), np.linalg.norm(x, axis=-1))
    assert_close(torch.linalg.norm(M.rope(torch.tensor(x)), dim=-1), np.linalg.norm(x, axis=-1))


def test_rope_score_depends_only_on_the_relative_position():
    q, k = randn(1, 16, seed=1), randn(1, 16, seed=2)

    def score(m, n):
        return (mnp.rope(q, offset=m) @ mnp.rope(k, offset=n).T).item()

    def t_score(m, n):
        return (M.rope(torch.tensor(q), offset=m) @ M.rope(torch.tensor(k), offset=n).T).item()

    for m, n in [(0, 0), (3, 1), (1, 3), (10, 2)]:
        for shift in (1, 7, 100):
            assert score(m + shift, n + shift) == pytest.approx(score(m, n), abs=1e-10)
            assert t_score(m + shift, n + shift) == pytest.approx(score(m, n), abs=1e-10)
    assert score(3, 1) != pytest.approx(score(1, 3))      # the sign of the offset matters


@pytest.mark.parametrize("offset", [0, 4])
def test_rope_backward_equals_autograd(offset):
    x, dy = randn(2, 3, 5, 8, seed=1), randn(2, 3, 5, 8, seed=2)
    xt = leaf(x)
    M.rope(xt, 500.0, offset).backward(torch.tensor(dy))
    assert_close(mnp.rope_backward(dy, 500.0, offset), xt.grad)


def test_llama_cpp_rotates_adjacent_pairs_of_rows_that_rope_pairs_to_halves_puts_back():
    """A GGUF file stores each head's q/k rows permuted so that llama.cpp can rotate adjacent
    pairs (2i, 2i+1); rotating those pairs gives the same numbers as minillm's half-split rope
    (i, i + d_head/2) of the original rows, and rope_pairs_to_halves undoes the permutation."""
    from minillm.convert import rope_pairs_to_halves

    n_heads, d_head, d_model, seq, base = 3, 8, 12, 5, 100.0
    weight = randn(n_heads * d_head, d_model, seed=1)
    # llama.cpp's convert_hf_to_gguf.py permute(): half-split rows -> interleaved rows
    stored = weight.reshape(n_heads, 2, d_head // 2, d_model).swapaxes(1, 2).reshape(weight.shape)
    np.testing.assert_array_equal(rope_pairs_to_halves(stored, n_heads), weight)

    x = randn(1, seq, d_model, seed=2)
    halves = mnp.rope(mnp.split_heads(x @ weight.T, n_heads), base)
    pairs = mnp.split_heads(x @ stored.T, n_heads)
    angle = np.arange(seq)[:, None] * base ** (-np.arange(0, d_head, 2) / d_head)
    even, odd = pairs[..., 0::2], pairs[..., 1::2]
    rotated_even = even * np.cos(angle) - odd * np.sin(angle)
    rotated_odd = even * np.sin(angle) + odd * np.cos(angle)
    assert_close(rotated_even, halves[..., :d_head // 2], atol=1e-12)
    assert_close(rotated_odd, halves[..., d_head // 2:], atol=1e-12)
