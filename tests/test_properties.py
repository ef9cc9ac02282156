"""Properties that must hold for every input, checked on inputs hypothesis draws: attention rows
are distributions over the visible keys, softmax survives huge logits, a causal language model
never looks ahead, and every output has the documented shape."""
import functools

import numpy as np
import torch
from _helpers import randomized, rng
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import minillm as M
import minillm.functional as tf
import minillm.np as mnp
from minillm import TransformerConfig

FAST = settings(max_examples=30, deadline=None)
dims = st.integers(1, 4)


@st.composite
def attention_inputs(draw):
    """(q, k, v, mask) with arbitrary batch, heads, seq_q, seq_k, d_head and a random bool mask."""
    batch, heads, seq_q, seq_k, d_head = (draw(dims) for _ in range(5))
    gen = rng(draw(st.integers(0, 2**16)))
    q = 3 * gen.standard_normal((batch, heads, seq_q, d_head))
    k = 3 * gen.standard_normal((batch, heads, seq_k, d_head))
    v = gen.standard_normal((batch, heads, seq_k, d_head + 1))
    mask = draw(arrays(bool, (batch, 1, seq_q, seq_k)))
    return q, k, v, mask


@FAST
@given(attention_inputs())
def test_attention_rows_sum_to_one_over_visible_keys_and_masked_keys_get_exactly_zero(inputs):
    q, k, v, mask = inputs
    full_mask = np.broadcast_to(mask, q.shape[:-1] + (k.shape[-2],))
    visible = full_mask.any(axis=-1)
    _, weights = mnp.scaled_dot_product_attention(q, k, v, mask)
    _, t_weights = M.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)), torch.tensor(mask))
    for w in (weights, t_weights.numpy()):
        assert (w[~full_mask] == 0).all()
        np.testing.assert_allclose(w.sum(-1)[visible], 1.0, atol=1e-12)
        assert (w.sum(-1)[~visible] == 0).all()


@FAST
@given(arrays(np.float64, st.tuples(dims, st.integers(1, 8)),
              elements=st.floats(-1e4, 1e4, allow_nan=False)))
def test_softmax_stays_finite_and_sums_to_one_for_logits_up_to_1e4(x):
    for y in (mnp.softmax(x), tf.softmax(torch.tensor(x)).numpy()):
        assert np.isfinite(y).all() and (y >= 0).all()
        np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-12)
    assert np.isfinite(mnp.log_softmax(x)).all()


LM_CONFIGS = {
    "gpt2_like": TransformerConfig.gpt2_like(vocab_size=30, d_model=16, n_heads=2, n_layers=2,
                                             d_ff=32, max_seq_len=10),
    "llama_like": TransformerConfig.llama_like(vocab_size=30, d_model=16, n_heads=2, n_layers=2,
                                               d_ff=32, max_seq_len=10),
}


@functools.cache
def _lm(name):
    model = randomized(M.DecoderLM(LM_CONFIGS[name])).eval()
    return model, {k: v.detach().numpy() for k, v in model.state_dict().items()}


@FAST
@given(name=st.sampled_from(sorted(LM_CONFIGS)), batch=st.integers(1, 2),
       seq=st.integers(2, 10), data=st.data())
def test_changing_a_future_token_never_changes_earlier_logits(name, batch, seq, data):
    model, params = _lm(name)
    cfg = LM_CONFIGS[name]
    ids = data.draw(arrays(np.int64, (batch, seq), elements=st.integers(0, cfg.vocab_size - 1)))
    t = data.draw(st.integers(1, seq - 1), label="changed position")
    changed = ids.copy()
    changed[:, t] = (ids[:, t] + data.draw(st.integers(1, cfg.vocab_size - 1))) % cfg.vocab_size

    before, _ = mnp.decoder_lm(params, ids, cfg)
    after, _ = mnp.decoder_lm(params, changed, cfg)
    assert before.shape == (batch, seq, cfg.vocab_size)
    np.testing.assert_allclose(after[:, :t], before[:, :t], atol=1e-12)
    assert not np.allclose(after[:, t], before[:, t])         # the change itself is seen
    with torch.no_grad():
        t_before, _ = model(torch.tensor(ids))
        t_after, _ = model(torch.tensor(changed))
    np.testing.assert_allclose(t_after[:, :t], t_before[:, :t], atol=1e-12)


@FAST
@given(batch=dims, heads=dims, seq_q=st.integers(1, 6), seq_k=st.integers(1, 6), d_head=dims)
def test_shapes_follow_the_docstrings_for_any_batch_heads_and_lengths(batch, heads, seq_q, seq_k,
                                                                      d_head):
    gen, d_model = rng(0), heads * d_head
    x_q = gen.standard_normal((batch, seq_q, d_model))
    x_kv = gen.standard_normal((batch, seq_k, d_model))
    assert (mnp.merge_heads(mnp.split_heads(x_q, heads)) == x_q).all()
    assert mnp.split_heads(x_q, heads).shape == (batch, heads, seq_q, d_head)

    module = M.MultiHeadAttention(d_model, heads).double()
    params = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    mask = mnp.causal_mask(seq_q, seq_k)
    out, weights = mnp.multi_head_attention(params, x_q, x_kv, mask, heads)
    t_out, t_weights = module(torch.tensor(x_q), torch.tensor(x_kv), torch.tensor(mask),
                              need_weights=True)
    assert out.shape == tuple(t_out.shape) == (batch, seq_q, d_model)
    assert weights.shape == tuple(t_weights.shape) == (batch, heads, seq_q, seq_k)
    dx_q, dx_kv, _ = mnp.multi_head_attention_backward(out, params, x_q, x_kv, mask, heads)
    assert dx_q.shape == x_q.shape and dx_kv.shape == x_kv.shape
