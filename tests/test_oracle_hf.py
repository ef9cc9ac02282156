"""minillm against Hugging Face's GPT-2, BERT and Llama, with the weights copied across.

The models are built from small configs (random weights, nothing downloaded), in eval mode
(dropout off) and with the "eager" attention, the only one that returns attention maps. Logits
(GPT-2, Llama) or last hidden states (BERT) and every layer's attention map must agree with both
minillm implementations, the PyTorch twin and the NumPy reference: largest |difference| <= 1e-5
in float32 and <= 1e-10 in float64.
"""
import pytest
import torch

pytest.importorskip("transformers")
from transformers import (  # noqa: E402
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
)
from transformers.models.llama import modeling_llama  # noqa: E402

import minillm.np as mnp  # noqa: E402
from minillm import DecoderLM, Encoder  # noqa: E402
from minillm.convert import (  # noqa: E402
    from_hf_bert,
    from_hf_gpt2,
    from_hf_llama,
    load_into,
    max_abs_diff,
)

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}
VOCAB, D_MODEL, N_HEADS, N_LAYERS, D_FF, MAX_LEN = 50, 32, 4, 2, 64, 16
BATCH, SEQ = 2, 7
ROPE_THETA = 5000.0                    # not Llama's default: the converter has to read it
SMALL = dict(attn_implementation="eager", bos_token_id=0, eos_token_id=0, pad_token_id=0)


def small_gpt2():
    return GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=D_MODEL, n_head=N_HEADS,
                                      n_layer=N_LAYERS, n_inner=D_FF, n_positions=MAX_LEN, **SMALL))


def small_bert():
    return BertModel(BertConfig(vocab_size=VOCAB, hidden_size=D_MODEL, num_attention_heads=N_HEADS,
                                num_hidden_layers=N_LAYERS, intermediate_size=D_FF,
                                max_position_embeddings=MAX_LEN, **SMALL))


def small_llama(**changes):
    config = dict(vocab_size=VOCAB, hidden_size=D_MODEL, num_attention_heads=N_HEADS,
                  num_key_value_heads=N_HEADS, num_hidden_layers=N_LAYERS, intermediate_size=D_FF,
                  max_position_embeddings=MAX_LEN, rope_theta=ROPE_THETA, rms_norm_eps=1e-5)
    return LlamaForCausalLM(LlamaConfig(**{**config, **SMALL, **changes}))


# name: (build, convert, minillm model class, NumPy model function, is it causal?)
MODELS = {
    "gpt2": (small_gpt2, from_hf_gpt2, DecoderLM, mnp.decoder_lm, True),
    "bert": (small_bert, from_hf_bert, Encoder, mnp.encoder, False),
    "llama": (small_llama, from_hf_llama, DecoderLM, mnp.decoder_lm, True),
    # grouped-query attention: 2 key/value heads, each shared by 2 of the 4 query heads
    "llama_gqa": (lambda: small_llama(num_key_value_heads=2), from_hf_llama, DecoderLM,
                  mnp.decoder_lm, True),
}


def prepared(model, dtype):
    """model in dtype and eval mode, every parameter nudged off HF's initialisation (std 0.02,
    zero biases, unit norm gains), so attention is far from uniform and biases count."""
    torch.manual_seed(1)
    model = model.to(dtype).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def inputs(padding):
    """ids, segments (BERT's token types) and the HF attention_mask (1 = real token, or None)."""
    torch.manual_seed(2)
    ids = torch.randint(1, VOCAB, (BATCH, SEQ))
    segments = (torch.arange(SEQ) >= SEQ // 2).long().expand(BATCH, SEQ)
    if padding == "none":
        return ids, segments, None
    attention_mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    if padding == "right":
        attention_mask[1, -2:] = 0
    else:
        attention_mask[1, :2] = 0
    return ids, segments, attention_mask


def compared_queries(attention_mask, causal):
    """(batch, seq) bool: the query positions whose results are compared.

    Under a causal mask a left-padded query sees no key at all. minillm gives it zero weights (and
    output 0); HF adds finfo.min to every score, which leaves its softmax uniform over all keys,
    future ones included. No real token reads those rows (padding is masked as a key), so they are
    left out; every other row, padded or not, is compared.
    """
    if attention_mask is None or not causal:
        return torch.ones(BATCH, SEQ, dtype=torch.bool)
    return attention_mask.cumsum(dim=-1) > 0


def rows(x, queries):
    """x: (batch, seq, ...) logits/hidden, or (batch, heads, seq, seq) attention -> the compared
    query rows, as a float64 tensor."""
    x = torch.as_tensor(x).detach().to(torch.float64)
    return x[queries] if x.ndim == 3 else x.transpose(1, 2)[queries]


def differences(name, dtype, padding):
    """Run HF, the twin and the NumPy reference on one input: the largest |difference| of each
    of (twin output, NumPy output, twin attentions, NumPy attentions) from HF's."""
    build, convert, twin_class, numpy_model, causal = MODELS[name]
    hf = prepared(build(), dtype)
    cfg, state = convert(hf)
    twin = load_into(twin_class(cfg).to(dtype).eval(), state)
    params = {key: value.numpy() for key, value in state.items()}
    ids, segments, attention_mask = inputs(padding)
    is_token = None if attention_mask is None else attention_mask.bool()
    bert = name == "bert"                                   # the one with segments (token types)

    with torch.no_grad():
        hf_out = hf(ids, attention_mask=attention_mask, output_attentions=True,
                    **({"token_type_ids": segments} if bert else {}))
        twin_out, twin_attn = twin(ids, is_token, **({"segments": segments} if bert else {}),
                                   need_weights=True)
    np_out, np_attn = numpy_model(params, ids.numpy(), cfg,
                                  None if is_token is None else is_token.numpy(),
                                  **({"segments": segments.numpy()} if bert else {}))
    reference = hf_out.logits if causal else hf_out.last_hidden_state
    queries = compared_queries(attention_mask, causal)
    assert len(hf_out.attentions) == len(twin_attn) == len(np_attn) == N_LAYERS

    def largest(ours, theirs):
        return max(max_abs_diff(rows(a, queries), rows(b, queries)) for a, b in zip(ours, theirs))
    return {"twin output": largest([twin_out], [reference]),
            "numpy output": largest([np_out], [reference]),
            "twin attention": largest(twin_attn, hf_out.attentions),
            "numpy attention": largest(np_attn, hf_out.attentions)}


@pytest.fixture
def llama_without_float32_casts(monkeypatch):
    """HF's Llama computes RMSNorm, the RoPE angles and the softmax in float32 whatever the model's
    dtype (to protect half-precision training), so a float64 Llama is only float32-accurate (about
    3e-8 here). To hold it to 1e-10 these three functions are replaced by copies without the
    float32 casts; nothing else in the reference changes."""
    for name in ("LlamaRMSNorm", "LlamaRotaryEmbedding", "eager_attention_forward", "repeat_kv"):
        if not hasattr(modeling_llama, name):
            pytest.skip(f"this transformers version has no modeling_llama.{name} to patch")

    repeat_kv = modeling_llama.repeat_kv

    def rms_norm(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True)
                                              + self.variance_epsilon))

    def rotary(self, x, position_ids):
        d_head = 2 * self.inv_freq.shape[-1]
        inv_freq = ROPE_THETA ** -(torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)
        angles = position_ids[..., None].to(torch.float64) * inv_freq
        angles = torch.cat((angles, angles), dim=-1)
        return angles.cos().to(x.dtype), angles.sin().to(x.dtype)

    def eager_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
        groups = module.num_key_value_groups           # grouped-query attention: share k, v
        key, value = repeat_kv(key, groups), repeat_kv(value, groups)
        scores = query @ key.transpose(2, 3) * scaling
        if attention_mask is not None:
            scores = scores + attention_mask
        weights = scores.softmax(dim=-1)
        return (weights @ value).transpose(1, 2).contiguous(), weights

    monkeypatch.setattr(modeling_llama.LlamaRMSNorm, "forward", rms_norm)
    monkeypatch.setattr(modeling_llama.LlamaRotaryEmbedding, "forward", rotary)
    monkeypatch.setattr(modeling_llama, "eager_attention_forward", eager_attention)


@pytest.mark.parametrize("padding", ["none", "right", "left"])
@pytest.mark.parametrize("dtype", list(TOLERANCE), ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(MODELS))
def test_minillm_equals_hugging_face(name, dtype, padding, request):
    if name.startswith("llama") and dtype == torch.float64:
        request.getfixturevalue("llama_without_float32_casts")
    diffs = differences(name, dtype, padding)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= TOLERANCE[dtype], f"{worst} differs by {diffs[worst]:.3g}"


def test_unpatched_float64_llama_is_float32_accurate():
    """The real float64 Llama, with its float32 casts, agrees to float32 accuracy. (With left
    padding and the casts it returns NaN: a fully masked row of finfo(float64).min scores
    becomes -inf in float32, the softmax gives NaN, and NaN * 0 weight reaches every position.)"""
    diffs = differences("llama", torch.float64, "right")
    assert max(diffs.values()) <= TOLERANCE[torch.float32]


# ---- converters read the config, and refuse what minillm cannot represent -----------------------


def test_converters_read_the_hugging_face_configs():
    gpt2_cfg, _ = from_hf_gpt2(small_gpt2())
    bert_cfg, bert_state = from_hf_bert(small_bert())
    llama_cfg, _ = from_hf_llama(small_llama())
    assert (gpt2_cfg.activation, gpt2_cfg.norm_first, gpt2_cfg.tie_embeddings) == (
        "gelu_tanh", True, True)
    assert (bert_cfg.activation, bert_cfg.norm_first, bert_cfg.norm_eps) == ("gelu", False, 1e-12)
    assert not any(key.startswith("pooler") for key in bert_state)
    assert (llama_cfg.norm, llama_cfg.activation, llama_cfg.rope_base) == ("rms", "swiglu",
                                                                          ROPE_THETA)
    assert (llama_cfg.bias, llama_cfg.tie_embeddings, llama_cfg.d_ff) == (False, False, D_FF)


@pytest.mark.parametrize("build, convert", [
    (lambda: small_llama(tie_word_embeddings=True), from_hf_llama),
    (lambda: GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=D_MODEL, n_head=N_HEADS, vocab_size=VOCAB,
                                        tie_word_embeddings=False, **SMALL)), from_hf_gpt2),
], ids=["tied llama", "untied gpt2"])
def test_tied_and_untied_heads_convert(build, convert):
    hf = prepared(build(), torch.float32)
    cfg, state = convert(hf)
    assert ("lm_head.weight" in state) == (not cfg.tie_embeddings)
    twin = load_into(DecoderLM(cfg).eval(), state)
    ids, _, _ = inputs("none")
    with torch.no_grad():
        assert max_abs_diff(hf(ids).logits, twin(ids)[0]) <= TOLERANCE[torch.float32]


@pytest.mark.parametrize("changes, message", [
    ({"rope_scaling": {"rope_type": "linear", "factor": 2.0}}, "rope_type='linear'"),
    ({"attention_bias": True}, "attention_bias"),
    ({"hidden_act": "gelu"}, "hidden_act"),
])
def test_llama_that_minillm_cannot_represent_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        from_hf_llama(small_llama(**changes))


def test_load_into_rejects_a_mismatched_state_dict_in_plain_words():
    cfg, state = from_hf_gpt2(small_gpt2())
    state.pop("layers.1.norm2.bias")
    state["layers.0.attn.c_attn.weight"] = torch.zeros(D_MODEL, 3 * D_MODEL)
    model = DecoderLM(cfg.replace(d_ff=2 * D_FF))
    before = {key: value.clone() for key, value in model.state_dict().items()}
    with pytest.raises(ValueError) as error:
        load_into(model, state)
    message = str(error.value)
    assert "missing from the state dict: layers.1.norm2.bias" in message
    assert "in the state dict but not in the model: layers.0.attn.c_attn.weight" in message
    assert "layers.0.ff.up.weight has shape" in message
    assert f"({D_FF}, {D_MODEL})" in message and f"({2 * D_FF}, {D_MODEL})" in message
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())


def test_load_into_with_assign_fills_a_model_built_on_the_meta_device():
    cfg, state = from_gpt2_state()
    with torch.device("meta"):
        empty = DecoderLM(cfg)                   # no memory, no random initialisation
    model = load_into(empty, state, assign=True).eval()
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert model.tok_emb.weight.data_ptr() == state["tok_emb.weight"].data_ptr()   # no copy
    reference = load_into(DecoderLM(cfg).eval(), state)
    ids, _, _ = inputs("none")
    with torch.no_grad():
        assert torch.equal(model(ids)[0], reference(ids)[0])
    state.pop("final_norm.weight")
    with torch.device("meta"):
        with pytest.raises(ValueError, match="missing from the state dict: final_norm.weight"):
            load_into(DecoderLM(cfg), state, assign=True)


def from_gpt2_state():
    return from_hf_gpt2(prepared(small_gpt2(), torch.float32))
