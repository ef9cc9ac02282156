"""Transformer layers and whole models: for each recipe (GPT-2, Llama, BERT, post-LN sinusoidal)
the NumPy reference equals the torch twin, padding included; every hand-written backward equals
autograd for every parameter; the fused attention path equals the explicit one; dropout acts only
while training."""
import numpy as np
import pytest
import torch
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
from minillm import TransformerConfig

SMALL = dict(vocab_size=40, d_model=16, n_heads=4, n_layers=2, d_ff=24, max_seq_len=12)
CONFIGS = {
    "gpt2_like": TransformerConfig.gpt2_like(**SMALL),
    "llama_like": TransformerConfig.llama_like(**SMALL),
    "llama_gqa": TransformerConfig.llama_like(**SMALL, n_kv_heads=1),   # multi-query attention
    "bert_like": TransformerConfig.bert_like(**SMALL),
    "post_ln_sinusoidal_relu_untied": TransformerConfig(
        **SMALL, norm_first=False, positional="sinusoidal", activation="relu",
        tie_embeddings=False),
    "post_rms_no_positions_gelu_tanh_no_bias": TransformerConfig(
        **SMALL, norm="rms", norm_first=False, positional="none", activation="gelu_tanh",
        bias=False),
}
# Batch row 1 is left-padded: its first query sees only padding, so that row is fully masked.
IS_TOKEN = np.array([[True] * 5 + [False] * 2, [False] + [True] * 6])
SEQ = IS_TOKEN.shape[1]


def _ids(seed=0):
    return rng(seed).integers(0, SMALL["vocab_size"], size=IS_TOKEN.shape)


def _tensor(x):
    return None if x is None else torch.tensor(x)


# ---- residual ------------------------------------------------------------------------------

@pytest.mark.parametrize("norm_first", [True, False])
def test_residual_matches_twin_and_autograd_in_both_arrangements(norm_first):
    cfg = TransformerConfig(d_model=6, n_heads=1, norm_first=norm_first)
    linear, norm = randomized(M.Linear(6, 6), seed=1), randomized(M.LayerNorm(6), seed=2)
    p_linear, p_norm = to_np_params(linear), to_np_params(norm)
    x, dy = randn(2, 3, 6, seed=3), randn(2, 3, 6, seed=4)

    def sublayer(h):
        return mnp.linear(p_linear, h), "aux"

    def sublayer_backward(dout, h):
        return mnp.linear_backward(dout, p_linear, h)

    y, aux = mnp.residual(sublayer, p_norm, x, cfg)
    xt = leaf(x)
    yt, t_aux = M.residual(lambda h: (linear(h), "aux"), norm, xt, cfg)
    assert aux == t_aux == "aux"
    assert_close(y, yt, atol=1e-12)
    expected = (mnp.layer_norm(p_norm, x + sublayer(x)[0]) if not norm_first
                else x + sublayer(mnp.layer_norm(p_norm, x))[0])
    assert_close(y, expected, atol=0)

    yt.backward(torch.tensor(dy))
    dx, g_sub, g_norm = mnp.residual_backward(dy, sublayer, sublayer_backward, p_norm, x, cfg)
    assert_close(dx, xt.grad)
    assert_grads_close(g_sub, param_grads(linear))
    assert_grads_close(g_norm, param_grads(norm))


# ---- layers --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("masked", [False, True])
def test_encoder_layer_matches_twin_and_autograd(name, masked):
    cfg = CONFIGS[name]
    layer = randomized(M.EncoderLayer(cfg))
    params = to_np_params(layer)
    x, dy = randn(2, SEQ, cfg.d_model, seed=1), randn(2, SEQ, cfg.d_model, seed=2)
    mask = mnp.causal_mask(SEQ) & mnp.padding_mask(IS_TOKEN) if masked else None

    y, weights = mnp.encoder_layer(params, x, cfg, mask)
    xt = leaf(x)
    yt, t_weights = layer(xt, _tensor(mask), need_weights=True)
    assert_close(y, yt, atol=1e-12)
    assert_close(weights, t_weights, atol=1e-12)
    assert_close(y, layer(xt, _tensor(mask))[0], atol=1e-12)        # fused path

    yt.backward(torch.tensor(dy))
    dx, grads = mnp.encoder_layer_backward(dy, params, x, cfg, mask)
    assert_close(dx, xt.grad)
    assert_grads_close(grads, param_grads(layer))


@pytest.mark.parametrize("name", CONFIGS)
def test_decoder_layer_matches_twin_and_autograd_for_x_memory_and_every_parameter(name):
    cfg = CONFIGS[name]
    layer = randomized(M.DecoderLayer(cfg))
    params = to_np_params(layer)
    seq_q = 5
    x, memory = randn(2, seq_q, cfg.d_model, seed=1), randn(2, SEQ, cfg.d_model, seed=2)
    dy = randn(2, seq_q, cfg.d_model, seed=3)
    self_mask, memory_mask = mnp.causal_mask(seq_q), mnp.padding_mask(IS_TOKEN)

    y, self_w, cross_w = mnp.decoder_layer(params, x, memory, cfg, self_mask, memory_mask)
    xt, mt = leaf(x), leaf(memory)
    yt, t_self_w, t_cross_w = layer(xt, mt, _tensor(self_mask), _tensor(memory_mask),
                                    need_weights=True)
    assert cross_w.shape == (2, cfg.n_heads, seq_q, SEQ)
    assert_close(y, yt, atol=1e-12)
    assert_close(self_w, t_self_w, atol=1e-12)
    assert_close(cross_w, t_cross_w, atol=1e-12)
    fused = layer(xt, mt, _tensor(self_mask), _tensor(memory_mask))[0]
    assert_close(y, fused, atol=1e-12)

    yt.backward(torch.tensor(dy))
    dx, dmemory, grads = mnp.decoder_layer_backward(dy, params, x, memory, cfg, self_mask,
                                                    memory_mask)
    assert_close(dx, xt.grad)
    assert_close(dmemory, mt.grad)
    assert_grads_close(grads, param_grads(layer))


# ---- whole models --------------------------------------------------------------------------

def _lm(name, seed=0):
    return randomized(M.DecoderLM(CONFIGS[name]), seed=seed)


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("padded", [False, True])
def test_decoder_lm_matches_twin_on_both_attention_paths(name, padded):
    cfg, model = CONFIGS[name], _lm(name)
    ids, is_token = _ids(), IS_TOKEN if padded else None
    logits, attentions = mnp.decoder_lm(to_np_params(model), ids, cfg, is_token)
    t_logits, t_attentions = model(torch.tensor(ids), _tensor(is_token), need_weights=True)
    fused, no_attentions = model(torch.tensor(ids), _tensor(is_token))
    assert logits.shape == (2, SEQ, cfg.vocab_size) and len(attentions) == cfg.n_layers
    assert no_attentions is None
    assert_close(logits, t_logits, atol=1e-10)
    assert_close(logits, fused, atol=1e-10)
    for weights, t_weights in zip(attentions, t_attentions):
        assert_close(weights, t_weights, atol=1e-12)
    assert not np.isnan(logits).any()


@pytest.mark.parametrize("name", CONFIGS)
def test_decoder_lm_backward_equals_autograd_for_every_parameter(name):
    cfg, model = CONFIGS[name], _lm(name)
    ids = _ids()
    dlogits = randn(2, SEQ, cfg.vocab_size, seed=5)
    logits, _ = model(torch.tensor(ids), torch.tensor(IS_TOKEN))
    logits.backward(torch.tensor(dlogits))
    grads = mnp.decoder_lm_backward(dlogits, to_np_params(model), ids, cfg, IS_TOKEN)
    assert_grads_close(grads, param_grads(model))


def test_decoder_lm_backward_of_the_loss_equals_autograd():
    cfg, model = CONFIGS["gpt2_like"], _lm("gpt2_like")
    ids = _ids()
    targets = np.where(IS_TOKEN, np.roll(ids, -1, axis=1), -100)
    params = to_np_params(model)
    logits, _ = mnp.decoder_lm(params, ids, cfg, IS_TOKEN)
    dlogits = mnp.cross_entropy_backward(1.0, logits, targets)
    t_logits, _ = model(torch.tensor(ids), torch.tensor(IS_TOKEN))
    M.functional.cross_entropy(t_logits, torch.tensor(targets)).backward()
    assert_close(mnp.cross_entropy(logits, targets),
                 M.functional.cross_entropy(t_logits, torch.tensor(targets)), atol=1e-12)
    grads = mnp.decoder_lm_backward(dlogits, params, ids, cfg, IS_TOKEN)
    assert_grads_close(grads, param_grads(model))


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("padded", [False, True])
def test_encoder_matches_twin_on_both_attention_paths(name, padded):
    cfg = CONFIGS[name]
    model = randomized(M.Encoder(cfg))
    ids, is_token = _ids(), IS_TOKEN if padded else None
    segments = (np.arange(SEQ) >= 3).astype(int)[None].repeat(2, 0) if cfg.n_segments else None
    hidden, attentions = mnp.encoder(to_np_params(model), ids, cfg, is_token, segments)
    t_ids, t_is_token, t_segments = torch.tensor(ids), _tensor(is_token), _tensor(segments)
    t_hidden, t_attentions = model(t_ids, t_is_token, t_segments, need_weights=True)
    assert hidden.shape == (2, SEQ, cfg.d_model)
    assert_close(hidden, t_hidden, atol=1e-10)
    assert_close(hidden, model(t_ids, t_is_token, t_segments)[0], atol=1e-10)
    for weights, t_weights in zip(attentions, t_attentions):
        assert_close(weights, t_weights, atol=1e-12)


@pytest.mark.parametrize("name", CONFIGS)
def test_encoder_backward_equals_autograd_for_every_parameter(name):
    cfg = CONFIGS[name]
    model = randomized(M.Encoder(cfg))
    ids = _ids()
    segments = np.array([[0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 1, 0, 0]]) if cfg.n_segments else None
    dhidden = randn(2, SEQ, cfg.d_model, seed=5)
    hidden, _ = model(torch.tensor(ids), torch.tensor(IS_TOKEN), _tensor(segments))
    hidden.backward(torch.tensor(dhidden))
    grads = mnp.encoder_backward(dhidden, to_np_params(model), ids, cfg, IS_TOKEN, segments)
    assert_grads_close(grads, param_grads(model))


def test_padding_changes_nothing_for_the_real_tokens_of_an_encoder():
    cfg = CONFIGS["bert_like"]
    params = to_np_params(randomized(M.Encoder(cfg)))
    ids = _ids()[:1, :5]
    padded = np.concatenate([ids, [[7, 7]]], axis=1)
    alone, _ = mnp.encoder(params, ids, cfg)
    with_padding, _ = mnp.encoder(params, padded, cfg, is_token=IS_TOKEN[:1])
    assert_close(with_padding[:, :5], alone, atol=1e-12)


# ---- the residual stream -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["decoder_lm", "encoder"])
def test_residual_stream_is_the_embeddings_then_each_layer_in_turn_and_forward_ends_it(kind):
    cfg = CONFIGS["gpt2_like" if kind == "decoder_lm" else "bert_like"]
    model = randomized(M.DecoderLM(cfg) if kind == "decoder_lm" else M.Encoder(cfg)).eval()
    ids, is_token = torch.tensor(_ids()), torch.tensor(IS_TOKEN)
    x = model.embed(ids)
    states, attentions = model.residual_stream(x, is_token, need_weights=True)
    mask = M.padding_mask(is_token)
    if kind == "decoder_lm":
        mask = mask & M.causal_mask(SEQ)
    assert len(states) == cfg.n_layers + 1 and len(attentions) == cfg.n_layers
    assert torch.equal(states[0], x)
    for layer, before, after, weights in zip(model.layers, states, states[1:], attentions):
        out, expected_weights = layer(before, mask, need_weights=True)
        assert_close(after, out, atol=1e-12)
        assert_close(weights, expected_weights, atol=1e-12)
    output, _ = model(ids, is_token)
    last = model.final_norm(states[-1]) if cfg.norm_first else states[-1]
    if kind == "decoder_lm":
        last = last @ model.tok_emb.weight.T
    assert_close(output, last, atol=1e-12)


# ---- dropout -------------------------------------------------------------------------------

def test_dropout_changes_outputs_only_in_train_mode():
    cfg = CONFIGS["gpt2_like"]
    model = randomized(M.DecoderLM(cfg.replace(dropout=0.5)))
    ids = torch.tensor(_ids())
    expected, _ = mnp.decoder_lm(to_np_params(model), _ids(), cfg)

    model.eval()
    assert_close(model(ids)[0], expected, atol=1e-10)
    assert_close(model(ids, need_weights=True)[0], expected, atol=1e-10)

    model.train()
    torch.manual_seed(0)
    first, _ = model(ids)
    second, _ = model(ids)
    assert not torch.allclose(first, torch.tensor(expected))
    assert not torch.allclose(first, second)


@pytest.mark.parametrize("name", CONFIGS)
def test_only_last_gives_the_last_positions_logits_in_both_twins(name):
    cfg, model = CONFIGS[name], _lm(name)
    ids = _ids()
    logits, _ = mnp.decoder_lm(to_np_params(model), ids, cfg)
    last, _ = mnp.decoder_lm(to_np_params(model), ids, cfg, only_last=True)
    t_last, _ = model(torch.tensor(ids), only_last=True)
    assert last.shape == t_last.shape == (2, 1, cfg.vocab_size)
    assert_close(last, logits[:, -1:], atol=1e-10)
    assert_close(last, t_last, atol=1e-10)
