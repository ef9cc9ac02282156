"""Attention: masks, scaled dot-product attention and multi-head attention. The NumPy reference,
the torch twin (explicit and fused paths) and torch's own kernel agree, masks hide what they
should, and the hand-written backward equals autograd."""
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
    to_np_params,
)

import minillm as M
import minillm.np as mnp

BATCH, HEADS, SEQ_Q, SEQ_K, D_HEAD = 2, 3, 4, 6, 5
IS_TOKEN = np.array([[True] * 6, [True] * 4 + [False] * 2])


def _masks():
    """name -> bool mask broadcastable to (batch, heads, seq_q, seq_k), True = may attend."""
    causal = mnp.causal_mask(SEQ_Q, SEQ_K)
    padding = mnp.padding_mask(IS_TOKEN)
    fully_masked_row = np.ones((SEQ_Q, SEQ_K), dtype=bool)
    fully_masked_row[1] = False
    return {"none": None, "causal": causal, "padding": padding, "both": causal & padding,
            "fully_masked_row": fully_masked_row}


MASKS = _masks()


def _qkv():
    return (randn(BATCH, HEADS, SEQ_Q, D_HEAD, seed=1), randn(BATCH, HEADS, SEQ_K, D_HEAD, seed=2),
            randn(BATCH, HEADS, SEQ_K, D_HEAD, seed=3))


def _t(mask):
    return None if mask is None else torch.tensor(mask)


@pytest.mark.parametrize("mask_name", MASKS)
def test_attention_agrees_across_numpy_twin_fused_path_and_torch(mask_name):
    mask = MASKS[mask_name]
    q, k, v = _qkv()
    out, weights = mnp.scaled_dot_product_attention(q, k, v, mask)
    tq, tk, tv = map(torch.tensor, (q, k, v))
    explicit, t_weights = M.scaled_dot_product_attention(tq, tk, tv, _t(mask), need_weights=True)
    fused, no_weights = M.scaled_dot_product_attention(tq, tk, tv, _t(mask), need_weights=False)
    assert no_weights is None
    assert out.shape == (BATCH, HEADS, SEQ_Q, D_HEAD)
    assert weights.shape == (BATCH, HEADS, SEQ_Q, SEQ_K)
    assert_close(out, explicit, atol=1e-12)
    assert_close(weights, t_weights, atol=1e-12)
    assert_close(out, fused, atol=1e-12)
    if mask_name != "fully_masked_row":    # some torch versions give NaN there; we give 0
        reference = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=_t(mask))
        assert_close(out, reference, atol=1e-12)


@pytest.mark.parametrize("mask_name", ["causal", "padding", "both"])
def test_masked_keys_get_zero_weight_and_rows_sum_to_one(mask_name):
    mask = np.broadcast_to(MASKS[mask_name], (BATCH, HEADS, SEQ_Q, SEQ_K))
    _, weights = mnp.scaled_dot_product_attention(*_qkv(), mask)
    assert (weights[~mask] == 0).all()
    assert (weights[mask] > 0).all()
    assert_close(weights.sum(-1), np.ones((BATCH, HEADS, SEQ_Q)), atol=1e-12)


def test_a_query_with_every_key_masked_gets_zero_weights_and_zero_output_not_nan():
    mask = MASKS["fully_masked_row"]
    q, k, v = _qkv()
    out, weights = mnp.scaled_dot_product_attention(q, k, v, mask)
    tq, tk, tv = map(leaf, (q, k, v))
    explicit, t_weights = M.scaled_dot_product_attention(tq, tk, tv, torch.tensor(mask))
    fused, _ = M.scaled_dot_product_attention(tq, tk, tv, torch.tensor(mask), need_weights=False)
    for o, w in ((out, weights), (explicit.detach().numpy(), t_weights.detach().numpy())):
        assert not np.isnan(o).any()
        assert (w[..., 1, :] == 0).all() and (o[..., 1, :] == 0).all()
    assert (fused[..., 1, :] == 0).all()
    (explicit.sum() + fused.sum()).backward()
    assert all(torch.isfinite(t.grad).all() for t in (tq, tk, tv))


def test_scale_argument_replaces_one_over_sqrt_d_head():
    q, k, v = _qkv()
    out, weights = mnp.scaled_dot_product_attention(q, k, v, scale=0.1)
    expected = mnp.softmax(q @ np.swapaxes(k, -1, -2) * 0.1)
    assert_close(weights, expected, atol=1e-12)
    for need_weights in (True, False):
        t_out, _ = M.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)), scale=0.1,
                                                  need_weights=need_weights)
        assert_close(out, t_out, atol=1e-12)


@pytest.mark.parametrize("mask_name", MASKS)
@pytest.mark.parametrize("need_weights", [True, False])
def test_attention_backward_equals_autograd(mask_name, need_weights):
    mask = MASKS[mask_name]
    q, k, v = _qkv()
    dout = randn(BATCH, HEADS, SEQ_Q, D_HEAD, seed=4)
    tq, tk, tv = map(leaf, (q, k, v))
    out, _ = M.scaled_dot_product_attention(tq, tk, tv, _t(mask), need_weights=need_weights)
    out.backward(torch.tensor(dout))
    dq, dk, dv = mnp.scaled_dot_product_attention_backward(dout, q, k, v, mask)
    assert_close(dq, tq.grad)
    assert_close(dk, tk.grad)
    assert_close(dv, tv.grad)


def test_causal_mask_hides_the_future():
    expected = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=bool)
    assert (mnp.causal_mask(3) == expected).all()
    assert (M.causal_mask(3).numpy() == expected).all()


def test_causal_mask_with_more_keys_than_queries_treats_queries_as_the_last_positions():
    mask = mnp.causal_mask(2, 5)          # 3 cached keys, then 2 new queries at positions 3 and 4
    expected = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=bool)
    assert (mask == expected).all()
    assert (M.causal_mask(2, 5).numpy() == expected).all()
    for seq_q, seq_k in [(1, 4), (3, 7), (4, 4)]:
        i, j = np.indices((seq_q, seq_k))
        assert (mnp.causal_mask(seq_q, seq_k) == (j <= i + seq_k - seq_q)).all()
        assert (M.causal_mask(seq_q, seq_k).numpy() == mnp.causal_mask(seq_q, seq_k)).all()


@pytest.mark.parametrize("seq_q, seq_k", [(1, 1), (1, 6), (4, 4), (3, 7)])
def test_the_shared_causal_mask_is_made_once_and_attends_bit_for_bit_like_a_fresh_one(seq_q,
                                                                                       seq_k):
    from minillm.attention import grouped_query_attention, shared_causal_mask

    shared = shared_causal_mask(seq_q, seq_k)
    assert shared is shared_causal_mask(seq_q, seq_k, device="cpu")
    assert torch.equal(shared, M.causal_mask(seq_q, seq_k))
    q = torch.randn(2, 4, seq_q, 8)
    k, v = torch.randn(2, 2, seq_k, 8), torch.randn(2, 2, seq_k, 8)
    fresh = M.causal_mask(seq_q, seq_k)           # read and compared, not recognised
    assert torch.equal(grouped_query_attention(q, k, v, shared),
                       grouped_query_attention(q, k, v, fresh))


def test_padding_mask_hides_padding_keys_from_every_query_and_head():
    mask = mnp.padding_mask(IS_TOKEN)
    assert mask.shape == (2, 1, 1, 6) and mask.dtype == bool
    assert (mask[:, 0, 0] == IS_TOKEN).all()
    assert (M.padding_mask(torch.tensor(IS_TOKEN)).numpy() == mask).all()


def test_split_then_merge_heads_gives_back_the_input():
    x = randn(2, 5, 12)
    heads = mnp.split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    assert (heads[:, 1] == x[..., 4:8]).all()      # head h owns columns h*d_head:(h+1)*d_head
    assert (mnp.merge_heads(heads) == x).all()
    t_heads = M.split_heads(torch.tensor(x), 3)
    assert (t_heads.numpy() == heads).all()
    assert (M.merge_heads(t_heads).numpy() == x).all()


D_MODEL, N_HEADS = 8, 2


def _mha(bias, rope):
    module = M.MultiHeadAttention(D_MODEL, N_HEADS, bias=bias, rope_base=10000.0 if rope else None)
    return randomized(module, seed=3)


MHA_CASES = {  # name -> (seq_k or None for self-attention, mask)
    "self": (None, None),
    "self_causal_padded": (None, mnp.causal_mask(6) & mnp.padding_mask(IS_TOKEN)),
    "cross": (4, None),
    "cross_padded": (6, mnp.padding_mask(IS_TOKEN)),
}


def _mha_inputs(case):
    seq_k, mask = MHA_CASES[case]
    x_q = randn(2, 5 if seq_k else 6, D_MODEL, seed=5)
    x_kv = None if seq_k is None else randn(2, seq_k, D_MODEL, seed=6)
    return x_q, x_kv, mask


@pytest.mark.parametrize("case", MHA_CASES)
@pytest.mark.parametrize("rope", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_multi_head_attention_matches_twin_and_returns_weights(case, rope, bias):
    module = _mha(bias, rope)
    x_q, x_kv, mask = _mha_inputs(case)
    out, weights = mnp.multi_head_attention(to_np_params(module), x_q, x_kv, mask, N_HEADS,
                                            module.rope_base)
    t_kv = None if x_kv is None else torch.tensor(x_kv)
    explicit, t_weights = module(torch.tensor(x_q), t_kv, _t(mask), need_weights=True)
    fused, no_weights = module(torch.tensor(x_q), t_kv, _t(mask))
    seq_k = x_q.shape[1] if x_kv is None else x_kv.shape[1]
    assert out.shape == x_q.shape and weights.shape == (2, N_HEADS, x_q.shape[1], seq_k)
    assert no_weights is None
    assert_close(out, explicit, atol=1e-12)
    assert_close(out, fused, atol=1e-12)
    assert_close(weights, t_weights, atol=1e-12)


@pytest.mark.parametrize("case", MHA_CASES)
@pytest.mark.parametrize("rope", [False, True])
def test_multi_head_attention_backward_equals_autograd(case, rope):
    module = _mha(True, rope)
    x_q, x_kv, mask = _mha_inputs(case)
    tx_q = leaf(x_q)
    tx_kv = None if x_kv is None else leaf(x_kv)
    out, _ = module(tx_q, tx_kv, _t(mask))
    dout = randn(*out.shape, seed=8)
    out.backward(torch.tensor(dout))
    dx_q, dx_kv, grads = mnp.multi_head_attention_backward(dout, to_np_params(module), x_q, x_kv,
                                                           mask, N_HEADS, module.rope_base)
    assert_close(dx_q, tx_q.grad)
    if x_kv is None:
        assert dx_kv is None             # self-attention: x_kv's gradient is already in dx_q
    else:
        assert_close(dx_kv, tx_kv.grad)
    assert_grads_close(grads, param_grads(module))


@pytest.mark.parametrize("where", ["q", "k", "v"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "padding-mask"])
def test_fused_attention_gives_nan_wherever_the_explicit_path_does(where, value, causal):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, 5, 4) for _ in range(3))
    mask = M.causal_mask(5) if causal else torch.tensor([[True, True, True, False, True]])
    {"q": q, "k": k, "v": v}[where][1, 0, 2, 1] = value
    explicit, _ = M.scaled_dot_product_attention(q, k, v, mask)
    fused, _ = M.scaled_dot_product_attention(q, k, v, mask, need_weights=False)
    assert not explicit.isfinite().all()
    assert not (explicit.isnan() & ~fused.isnan()).any()              # every NaN is kept
    assert not (~explicit.isfinite() & fused.isfinite()).any()        # and every inf shows
    assert fused[0].isfinite().all()                      # the other sequence is untouched
    finite = fused.isfinite()
    assert torch.allclose(explicit[finite], fused[finite], atol=1e-6)


# ---- grouped-query attention ---------------------------------------------------------------

GQA_HEADS, GQA_KV_HEADS, GQA_D_MODEL = 6, 2, 12     # 3 query heads share each key/value head


def _gqa(rope, n_kv_heads=GQA_KV_HEADS):
    module = M.MultiHeadAttention(GQA_D_MODEL, GQA_HEADS, bias=True, n_kv_heads=n_kv_heads,
                                  rope_base=10000.0 if rope else None)
    return randomized(module, seed=4)


def test_repeat_kv_gives_each_query_head_its_groups_key_value_head():
    kv = randn(2, 2, 3, 4, seed=1)
    repeated = mnp.repeat_kv(kv, 3)
    assert repeated.shape == (2, 6, 3, 4)
    for h in range(6):
        np.testing.assert_array_equal(repeated[:, h], kv[:, h // 3])
    assert mnp.repeat_kv(kv, 1) is kv
    assert torch.equal(M.repeat_kv(torch.tensor(kv), 3), torch.tensor(repeated))
    np.testing.assert_array_equal(mnp.repeat_kv_backward(np.ones((2, 6, 3, 4)), 3),
                                  np.full((2, 2, 3, 4), 3.0))


def test_gqa_projections_and_cache_have_only_the_key_value_heads():
    module = _gqa(rope=True)
    d_head = GQA_D_MODEL // GQA_HEADS
    assert module.k_proj.weight.shape == module.v_proj.weight.shape == (2 * d_head, GQA_D_MODEL)
    assert module.q_proj.weight.shape == (GQA_D_MODEL, GQA_D_MODEL)
    cache, np_cache = M.KVCache(1), mnp.KVCache(1)
    x = randn(2, 5, GQA_D_MODEL, seed=5)
    module(torch.tensor(x), mask=_t(mnp.causal_mask(5)), cache=cache)
    mnp.multi_head_attention(to_np_params(module), x, None, mnp.causal_mask(5), GQA_HEADS,
                             module.rope_base, np_cache, n_kv_heads=GQA_KV_HEADS)
    for keys in (cache.keys[0], cache.values[0], np_cache.keys[0], np_cache.values[0]):
        assert tuple(keys.shape) == (2, GQA_KV_HEADS, 5, d_head)


@pytest.mark.parametrize("case", MHA_CASES)
@pytest.mark.parametrize("rope", [False, True])
def test_gqa_numpy_twin_and_torch_sdpa_with_enable_gqa_agree(case, rope):
    module = _gqa(rope)
    x_q, x_kv, mask = _mha_inputs(case)
    x_q = randn(*x_q.shape[:2], GQA_D_MODEL, seed=5)
    x_kv = None if x_kv is None else randn(*x_kv.shape[:2], GQA_D_MODEL, seed=6)
    out, weights = mnp.multi_head_attention(to_np_params(module), x_q, x_kv, mask, GQA_HEADS,
                                            module.rope_base, n_kv_heads=GQA_KV_HEADS)
    t_q, t_kv = torch.tensor(x_q), None if x_kv is None else torch.tensor(x_kv)
    explicit, t_weights = module(t_q, t_kv, _t(mask), need_weights=True)
    fused, _ = module(t_q, t_kv, _t(mask))
    assert weights.shape[1] == GQA_HEADS
    assert_close(out, explicit, atol=1e-12)
    assert_close(out, fused, atol=1e-12)
    assert_close(weights, t_weights, atol=1e-12)

    # torch's own kernel, fed the un-repeated key/value heads
    with torch.no_grad():
        src = t_q if t_kv is None else t_kv
        q = M.split_heads(module.q_proj(t_q), GQA_HEADS)
        k = M.split_heads(module.k_proj(src), GQA_KV_HEADS)
        v = M.split_heads(module.v_proj(src), GQA_KV_HEADS)
        if rope:
            q, k = M.rope(q, module.rope_base), M.rope(k, module.rope_base)
        rows_seeing_a_key = None if mask is None else _t(mask).any(-1, keepdim=True)
        heads = F.scaled_dot_product_attention(q, k, v, attn_mask=_t(mask), enable_gqa=True)
        reference = module.out_proj(M.merge_heads(heads))
    if rows_seeing_a_key is None or rows_seeing_a_key.all():
        assert_close(out, reference, atol=1e-12)


@pytest.mark.parametrize("case", MHA_CASES)
@pytest.mark.parametrize("rope", [False, True])
def test_gqa_backward_sums_each_groups_gradient_like_autograd(case, rope):
    module = _gqa(rope)
    x_q, x_kv, mask = _mha_inputs(case)
    x_q = randn(*x_q.shape[:2], GQA_D_MODEL, seed=5)
    x_kv = None if x_kv is None else randn(*x_kv.shape[:2], GQA_D_MODEL, seed=6)
    tx_q = leaf(x_q)
    tx_kv = None if x_kv is None else leaf(x_kv)
    out, _ = module(tx_q, tx_kv, _t(mask))
    dout = randn(*out.shape, seed=8)
    out.backward(torch.tensor(dout))
    dx_q, dx_kv, grads = mnp.multi_head_attention_backward(
        dout, to_np_params(module), x_q, x_kv, mask, GQA_HEADS, module.rope_base,
        n_kv_heads=GQA_KV_HEADS)
    assert_close(dx_q, tx_q.grad)
    if x_kv is not None:
        assert_close(dx_kv, tx_kv.grad)
    assert grads["k_proj.weight"].shape == tuple(module.k_proj.weight.shape)
    assert_grads_close(grads, param_grads(module))


def test_one_key_value_head_per_query_head_is_plain_multi_head_attention():
    plain = _mha(True, True)
    x = torch.tensor(randn(2, 6, D_MODEL, seed=5))
    again = M.MultiHeadAttention(D_MODEL, N_HEADS, rope_base=10000.0, n_kv_heads=N_HEADS).double()
    again.load_state_dict(plain.state_dict())
    assert torch.equal(plain(x)[0], again(x)[0])        # bit for bit
    params = to_np_params(plain)
    np.testing.assert_array_equal(
        mnp.multi_head_attention(params, x.numpy(), n_heads=N_HEADS, rope_base=10000.0)[0],
        mnp.multi_head_attention(params, x.numpy(), n_heads=N_HEADS, rope_base=10000.0,
                                 n_kv_heads=N_HEADS)[0])


def test_gqa_refuses_key_value_heads_that_do_not_divide_the_heads():
    with pytest.raises(ValueError, match="n_heads=6 is not divisible by n_kv_heads=4"):
        M.MultiHeadAttention(GQA_D_MODEL, GQA_HEADS, n_kv_heads=4)
    params = to_np_params(_gqa(rope=False))
    with pytest.raises(ValueError, match="n_heads=6 is not divisible by n_kv_heads=4"):
        mnp.multi_head_attention(params, randn(1, 3, GQA_D_MODEL), n_heads=6, n_kv_heads=4)
    with pytest.raises(ValueError, match="pass n_kv_heads=2"):   # GQA weights, n_kv_heads forgotten
        mnp.multi_head_attention(params, randn(1, 3, GQA_D_MODEL), n_heads=6)


@pytest.mark.parametrize("mask_name", ["none", "causal", "padding", "fully_masked_row"])
def test_grouped_query_attention_equals_attention_over_the_repeated_heads(mask_name):
    q = torch.tensor(randn(BATCH, 6, SEQ_Q, D_HEAD, seed=1))
    k, v = (torch.tensor(randn(BATCH, 2, SEQ_K, D_HEAD, seed=s)) for s in (2, 3))
    mask = None if MASKS[mask_name] is None else torch.tensor(MASKS[mask_name])
    explicit, _ = M.scaled_dot_product_attention(q, M.repeat_kv(k, 3), M.repeat_kv(v, 3), mask)
    assert_close(M.attention.grouped_query_attention(q, k, v, mask), explicit, atol=1e-12)


def test_grouped_query_attention_keeps_a_nan_in_a_shared_head_for_its_whole_group():
    q = torch.tensor(randn(1, 4, 3, D_HEAD, seed=1))
    k, v = (torch.tensor(randn(1, 2, 3, D_HEAD, seed=s)) for s in (2, 3))
    k[0, 1, 0, 0] = float("nan")                  # key/value head 1 serves query heads 2 and 3
    out = M.attention.grouped_query_attention(q, k, v)
    assert out[0, 2:].isnan().all() and not out[0, :2].isnan().any()


def test_rope_angles_shared_from_inference_mode_still_serve_training():
    x = torch.randn(2, 3, 5, 8)
    with torch.inference_mode():
        M.rope(x, offset=3)
    y = torch.randn(2, 3, 5, 8, requires_grad=True)
    M.rope(y, offset=3).sum().backward()           # the same (cached) angles, now with autograd
    assert y.grad is not None


@pytest.mark.parametrize("twin", ["torch", "numpy"])
def test_a_prefix_read_once_serves_a_batch_of_continuations(twin):
    """KVCache.for_batch: prefix + continuation i, scored through the shared prefix cache,
    equals reading the whole sequence i at once; the prefix cache itself is left unchanged."""
    module = _gqa(rope=True)
    params = to_np_params(module)
    prefix, rest = randn(1, 4, GQA_D_MODEL, seed=7), randn(3, 2, GQA_D_MODEL, seed=8)
    whole = np.concatenate([np.repeat(prefix, 3, axis=0), rest], axis=1)

    def run(x, cache, seq_before):
        mask = mnp.causal_mask(x.shape[1], seq_before + x.shape[1])
        if twin == "torch":
            with torch.no_grad():
                out, _ = module(torch.tensor(x), mask=_t(mask), cache=cache)
            return out.numpy()
        out, _ = mnp.multi_head_attention(params, x, None, mask, GQA_HEADS, module.rope_base,
                                          cache, n_kv_heads=GQA_KV_HEADS)
        return out

    Cache = M.KVCache if twin == "torch" else mnp.KVCache
    prefix_cache = Cache(1)
    run(prefix, prefix_cache, 0)
    shared = prefix_cache.for_batch(3)
    np.testing.assert_allclose(run(rest, shared, 4), run(whole, Cache(1), 0)[:, 4:], atol=1e-12)
    assert prefix_cache.seq_len() == 4 and tuple(prefix_cache.keys[0].shape)[0] == 1
    with pytest.raises(ValueError, match="batch 3"):
        shared.for_batch(2)
    with pytest.raises(ValueError, match="empty cache"):
        Cache(1).for_batch(2)
