"""Weight converters: run the weights of a real reference implementation in minillm.

Each `from_*` function reads one source layout (PyTorch's `nn.MultiheadAttention` and
`nn.Transformer*Layer`, Hugging Face's GPT-2, BERT and Llama, llama.cpp's GGUF files) and returns
a state dict keyed for minillm's modules, plus, for layers and whole models, the
`TransformerConfig` that rebuilds them:

    cfg, state = from_hf_gpt2(hf_model)
    model = load_into(DecoderLM(cfg), state)                      # the PyTorch twin
    params = {k: v.numpy() for k, v in state.items()}             # the NumPy reference

Most converters are a table "minillm name <- source module". A source whose architecture minillm
cannot represent is refused with a ValueError naming the setting, never converted approximately.
The values are detached copies in the source's dtype. `load_into` (strict loading, every
mismatch named) lives in `minillm.checkpoint`; it is importable from here too.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minillm.checkpoint import (  # noqa: F401 (they lived here; minillm.convert.load_into works)
    load_into,
    state_dict_mismatches,
)
from minillm.config import TransformerConfig
from minillm.np.layers import prefixed


def max_abs_diff(a, b) -> float:
    """The largest |a - b| over all entries (arrays or tensors of one shape), as a Python float;
    NaN if either holds a NaN, so that a tolerance check `max_abs_diff(a, b) <= tol` fails."""
    a = torch.as_tensor(a).detach().to(torch.float64)
    b = torch.as_tensor(b).detach().to(torch.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare shapes {tuple(a.shape)} and {tuple(b.shape)}")
    return float((a - b).abs().max()) if a.numel() else 0.0


# ---- PyTorch's own layers ----------------------------------------------------------------------


def from_torch_multihead_attention(mha: nn.MultiheadAttention) -> dict:
    """nn.MultiheadAttention -> the state dict of minillm's MultiHeadAttention.

    Source layout: in_proj_weight (3*d, d) stacks [W_q; W_k; W_v] along the rows (each (out, in)),
    in_proj_bias (3*d,) likewise; out_proj.weight (d, d), out_proj.bias (d,). Rebuild with
    MultiHeadAttention(mha.embed_dim, mha.num_heads, bias=mha.in_proj_bias is not None).
    Its masks say True = BLOCKED; minillm's say True = may attend: pass `~mask`.
    """
    if mha.in_proj_weight is None:       # PyTorch keeps q, k, v apart only when their widths differ
        raise ValueError(f"kdim={mha.kdim}, vdim={mha.vdim} differ from embed_dim={mha.embed_dim}: "
                         "minillm projects keys and values from d_model-wide inputs")
    if mha.bias_k is not None or mha.add_zero_attn:
        raise ValueError("add_bias_kv / add_zero_attn append extra key positions; minillm has none")
    has_bias = mha.in_proj_bias is not None
    weights = _copy(mha.in_proj_weight).chunk(3)
    biases = _copy(mha.in_proj_bias).chunk(3) if has_bias else (None, None, None)
    state = {}
    for name, weight, bias in zip(("q_proj", "k_proj", "v_proj"), weights, biases):
        state.update(_weight_and_bias(name, weight, bias))
    state.update(_state({"out_proj": mha.out_proj}))
    return state


def from_torch_encoder_layer(layer: nn.TransformerEncoderLayer) -> tuple[TransformerConfig, dict]:
    """nn.TransformerEncoderLayer -> (config, state dict) of minillm's EncoderLayer.

    Source layout: self_attn (nn.MultiheadAttention), linear1 (d_ff, d) and linear2 (d, d_ff)
    = the feed-forward's up and down, norm1 / norm2 (nn.LayerNorm). norm_first, the activation
    (relu or gelu), the LayerNorm eps and the dropout are read from the layer.
    """
    cfg = _torch_layer_config(layer, (layer.norm1, layer.norm2))
    state = prefixed(from_torch_multihead_attention(layer.self_attn), "self_attn")
    state.update(_state({"norm1": layer.norm1, "norm2": layer.norm2,
                         "ff.up": layer.linear1, "ff.down": layer.linear2}))
    return cfg, state


def from_torch_decoder_layer(layer: nn.TransformerDecoderLayer) -> tuple[TransformerConfig, dict]:
    """nn.TransformerDecoderLayer -> (config, state dict) of minillm's DecoderLayer.

    Source layout: as the encoder layer, plus multihead_attn (the cross-attention over the
    memory, minillm's cross_attn) and norm3; norm1 / norm2 / norm3 wrap self-attention /
    cross-attention / feed-forward, the same order as minillm's.
    """
    cfg = _torch_layer_config(layer, (layer.norm1, layer.norm2, layer.norm3))
    state = prefixed(from_torch_multihead_attention(layer.self_attn), "self_attn")
    state.update(prefixed(from_torch_multihead_attention(layer.multihead_attn), "cross_attn"))
    state.update(_state({"norm1": layer.norm1, "norm2": layer.norm2, "norm3": layer.norm3,
                         "ff.up": layer.linear1, "ff.down": layer.linear2}))
    return cfg, state


def _torch_layer_config(layer, norms):
    for norm in norms:
        if not norm.elementwise_affine:
            raise ValueError("a LayerNorm without weight (elementwise_affine=False): "
                             "minillm's norms always have one")
    eps = {norm.eps for norm in norms}
    if len(eps) != 1:
        raise ValueError(f"the layer's LayerNorms use different eps {sorted(eps)}; "
                         "minillm uses one")
    return TransformerConfig(
        d_model=layer.self_attn.embed_dim, n_heads=layer.self_attn.num_heads, n_layers=1,
        d_ff=layer.linear1.out_features, norm="layer", norm_eps=eps.pop(),
        norm_first=layer.norm_first, activation=_torch_activation(layer.activation),
        positional="none", bias=layer.linear1.bias is not None, dropout=layer.dropout.p)


def _torch_activation(activation):
    """PyTorch's layers keep the activation as a function (F.relu, F.gelu) or as a module."""
    if activation is F.relu or isinstance(activation, nn.ReLU):
        return "relu"
    if activation is F.gelu:
        return "gelu"
    if isinstance(activation, nn.GELU):
        return "gelu" if activation.approximate == "none" else "gelu_tanh"
    raise ValueError(f"activation {activation!r} is not one minillm has (relu, gelu, tanh-gelu)")


# ---- Hugging Face models -----------------------------------------------------------------------

# Hugging Face activation names -> minillm's ("gelu_new" is GPT-2's tanh approximation).
_HF_ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "gelu_new": "gelu_tanh",
                   "gelu_pytorch_tanh": "gelu_tanh"}


def from_hf_gpt2(model) -> tuple[TransformerConfig, dict]:
    """transformers' GPT2LMHeadModel -> (config, state dict) of minillm's DecoderLM.

    Source layout: transformer.wte (vocab, d) and wpe (n_positions, d); per block h.{i}: ln_1,
    attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj; then ln_f. GPT-2's Conv1D stores its
    weight as (in, out), the transpose of nn.Linear's (out, in), and c_attn fuses q, k and v
    into one (d, 3*d) matrix. Pre-LN, tanh-GELU ("gelu_new"), the head tied to wte.
    """
    c = model.config
    if getattr(c, "add_cross_attention", False):
        raise ValueError("this GPT-2 has cross-attention blocks; minillm's DecoderLM has none")
    if not c.scale_attn_weights or c.scale_attn_by_inverse_layer_idx:
        raise ValueError("minillm scales attention scores by 1/sqrt(d_head) only: "
                         "scale_attn_weights must be True, scale_attn_by_inverse_layer_idx False")
    cfg = TransformerConfig.gpt2_like(
        vocab_size=c.vocab_size, d_model=c.n_embd, n_heads=c.n_head, n_layers=c.n_layer,
        d_ff=c.n_inner or 4 * c.n_embd, max_seq_len=c.n_positions, norm_eps=c.layer_norm_epsilon,
        activation=_hf_activation(c.activation_function), tie_embeddings=c.tie_word_embeddings)
    t = model.transformer
    state = _state({"tok_emb": t.wte, "pos_emb": t.wpe, "final_norm": t.ln_f})
    for i, block in enumerate(t.h):
        layer = _state({"norm1": block.ln_1, "norm2": block.ln_2})
        q, k, v = _conv1d_as_linear(block.attn.c_attn, parts=3)
        layer.update(_weight_and_bias("self_attn.q_proj", *q))
        layer.update(_weight_and_bias("self_attn.k_proj", *k))
        layer.update(_weight_and_bias("self_attn.v_proj", *v))
        for name, conv in (("self_attn.out_proj", block.attn.c_proj),
                           ("ff.up", block.mlp.c_fc), ("ff.down", block.mlp.c_proj)):
            layer.update(_weight_and_bias(name, *_conv1d_as_linear(conv)[0]))
        state.update(prefixed(layer, f"layers.{i}"))
    if not cfg.tie_embeddings:
        state.update(_state({"lm_head": model.lm_head}))
    return cfg, state


def _conv1d_as_linear(conv, parts=1):
    """GPT-2's Conv1D, weight (in, out), as `parts` nn.Linear-style (weight (out, in), bias) pairs
    cut along out (c_attn's out is [q | k | v])."""
    weights = _copy(conv.weight).T.contiguous().chunk(parts)
    return list(zip(weights, _copy(conv.bias).chunk(parts)))


def from_hf_bert(model) -> tuple[TransformerConfig, dict]:
    """transformers' BertModel -> (config, state dict) of minillm's Encoder (without the pooler)."""
    return bert_config(model.config.to_dict()), bert_state_dict(model.state_dict())


# minillm Encoder name <- Hugging Face BERT name (weights and biases alike)
BERT_EMBEDDING_NAMES = {
    "tok_emb": "embeddings.word_embeddings",
    "pos_emb": "embeddings.position_embeddings",
    "seg_emb": "embeddings.token_type_embeddings",
    "emb_norm": "embeddings.LayerNorm",
}
BERT_LAYER_NAMES = {   # inside layer i: layers.{i}.<ours> <- encoder.layer.{i}.<theirs>
    "self_attn.q_proj": "attention.self.query",
    "self_attn.k_proj": "attention.self.key",
    "self_attn.v_proj": "attention.self.value",
    "self_attn.out_proj": "attention.output.dense",
    "norm1": "attention.output.LayerNorm",
    "ff.up": "intermediate.dense",
    "ff.down": "output.dense",
    "norm2": "output.LayerNorm",
}


def bert_config(hf_config: dict) -> TransformerConfig:
    """A BERT config.json (as a dict) -> minillm's TransformerConfig (post-LN, exact GELU...)."""
    if hf_config.get("position_embedding_type") not in (None, "absolute"):
        raise ValueError(f"position_embedding_type={hf_config['position_embedding_type']!r}: "
                         "minillm's encoder has absolute (learned) positions only")
    if hf_config.get("is_decoder") or hf_config.get("add_cross_attention"):
        raise ValueError("this BERT is configured as a decoder; minillm's Encoder is bidirectional")
    return TransformerConfig.bert_like(
        vocab_size=hf_config["vocab_size"], d_model=hf_config["hidden_size"],
        n_heads=hf_config["num_attention_heads"], n_layers=hf_config["num_hidden_layers"],
        d_ff=hf_config["intermediate_size"], max_seq_len=hf_config["max_position_embeddings"],
        norm_eps=hf_config.get("layer_norm_eps", 1e-12),
        activation=_hf_activation(hf_config.get("hidden_act", "gelu")),
        n_segments=hf_config.get("type_vocab_size", 2))


def bert_state_dict(hf_state: dict) -> dict:
    """A BERT state dict (BertModel.state_dict() or a model.safetensors file, with or without a
    "bert." prefix) -> minillm Encoder's state dict. The pooler and position_ids are left out."""
    hf_state = {name.removeprefix("bert."): value for name, value in hf_state.items()}
    n_layers = 1 + max(int(name.split(".")[2]) for name in hf_state
                       if name.startswith("encoder.layer."))
    names = dict(BERT_EMBEDDING_NAMES)
    for i in range(n_layers):
        names.update({f"layers.{i}.{ours}": f"encoder.layer.{i}.{theirs}"
                      for ours, theirs in BERT_LAYER_NAMES.items()})
    state = {}
    for ours, theirs in names.items():
        for part in ("weight", "bias"):
            if f"{theirs}.{part}" in hf_state:
                state[f"{ours}.{part}"] = _copy(torch.as_tensor(hf_state[f"{theirs}.{part}"]))
    return state


def from_hf_llama(model) -> tuple[TransformerConfig, dict]:
    """transformers' LlamaForCausalLM -> (config, state dict) of minillm's DecoderLM.

    Source layout: model.embed_tokens (vocab, d); per layer model.layers.{i}: input_layernorm
    (RMSNorm, minillm's norm1), self_attn.{q,k,v,o}_proj (o_proj = out_proj),
    post_attention_layernorm (norm2), mlp.{gate,up,down}_proj (SwiGLU); then model.norm and an
    untied lm_head. No biases; RoPE in the half-split (rotate_half) layout, as minillm's.
    Grouped-query attention (num_key_value_heads < num_attention_heads) becomes cfg.n_kv_heads:
    k_proj and v_proj are then (num_key_value_heads * head_dim, d).
    Refused: a head_dim other than hidden_size // heads, biases, rope scaling or partial rotary,
    an activation other than SiLU.
    """
    c = model.config
    n_heads = c.num_attention_heads
    n_kv_heads = getattr(c, "num_key_value_heads", None) or n_heads
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // n_heads
    if head_dim * n_heads != c.hidden_size:
        raise ValueError(f"head_dim={head_dim} * {n_heads} heads != hidden_size={c.hidden_size}")
    if getattr(c, "attention_bias", False) or getattr(c, "mlp_bias", False):
        raise ValueError("attention_bias / mlp_bias: minillm's Llama recipe has no biases")
    if c.hidden_act != "silu":
        raise ValueError(f"hidden_act={c.hidden_act!r}: SwiGLU in minillm gates with SiLU")
    cfg = TransformerConfig.llama_like(
        vocab_size=c.vocab_size, d_model=c.hidden_size, n_heads=n_heads,
        n_kv_heads=None if n_kv_heads == n_heads else n_kv_heads,
        n_layers=c.num_hidden_layers, d_ff=c.intermediate_size,
        max_seq_len=c.max_position_embeddings, norm_eps=c.rms_norm_eps,
        rope_base=_llama_rope_theta(c), tie_embeddings=c.tie_word_embeddings)
    m = model.model
    state = _state({"tok_emb": m.embed_tokens, "final_norm": m.norm})
    for i, layer in enumerate(m.layers):
        attn, mlp = layer.self_attn, layer.mlp
        state.update(prefixed(_state({
            "norm1": layer.input_layernorm,
            "self_attn.q_proj": attn.q_proj,
            "self_attn.k_proj": attn.k_proj,
            "self_attn.v_proj": attn.v_proj,
            "self_attn.out_proj": attn.o_proj,
            "norm2": layer.post_attention_layernorm,
            "ff.gate": mlp.gate_proj,
            "ff.up": mlp.up_proj,
            "ff.down": mlp.down_proj,
        }), f"layers.{i}"))
    if not cfg.tie_embeddings:
        state.update(_state({"lm_head": model.lm_head}))
    return cfg, state


def _llama_rope_theta(config):
    """transformers 5 keeps RoPE settings in config.rope_parameters; 4.x in rope_theta and
    rope_scaling (None, or a dict naming a scaled variant)."""
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type != "default":
        raise ValueError(f"rope_type={rope_type!r}: minillm implements plain RoPE, no scaling")
    if params.get("partial_rotary_factor", 1.0) != 1.0:
        raise ValueError("partial_rotary_factor != 1: minillm rotates every dimension of a head")
    theta = params.get("rope_theta", getattr(config, "rope_theta", None))
    if theta is None:
        raise ValueError("found no rope_theta in the config (rope_parameters or rope_theta)")
    return float(theta)


# ---- GGUF files (llama.cpp) ---------------------------------------------------------------------

# minillm name <- GGUF tensor name (llama.cpp's), whole model and inside layer i (blk.{i}.*)
GGUF_LLAMA_NAMES = {"tok_emb": "token_embd", "final_norm": "output_norm", "lm_head": "output"}
GGUF_LLAMA_LAYER_NAMES = {
    "norm1": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.out_proj": "attn_output",
    "norm2": "ffn_norm",
    "ff.gate": "ffn_gate",
    "ff.up": "ffn_up",
    "ff.down": "ffn_down",
}


def from_gguf_llama(path) -> tuple[TransformerConfig, dict]:
    """A llama.cpp GGUF file of a Llama-architecture model -> (config, state dict) of minillm's
    DecoderLM, every weight dequantized to float32 (minillm.np.quants).

    The container is read with the `gguf` package (GGUFReader: metadata and raw tensor bytes);
    the numbers are decoded by minillm itself. Source layout: token_embd, output_norm, output
    (absent = head tied to token_embd); per layer blk.{i}: attn_norm, attn_{q,k,v,output},
    ffn_norm, ffn_{gate,up,down}. A GGUF shape lists the fastest-varying dimension first, so
    [in, out] there is nn.Linear's (out, in) here. llama.cpp rotates adjacent pairs (2i, 2i+1)
    and so stores the rows of attn_q and attn_k of each head permuted; they are put back in the
    half-split order minillm's (and Hugging Face's) RoPE uses.
    path: the .gguf file, or a gguf.GGUFReader already open on it.
    """
    import gguf

    reader = path if isinstance(path, gguf.GGUFReader) else gguf.GGUFReader(str(path))
    meta = {name: field.contents() for name, field in reader.fields.items()
            if not name.startswith("tokenizer.")}
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise ValueError(f"{path} holds a {arch!r} model; from_gguf_llama reads 'llama' only")
    n_heads = int(meta["llama.attention.head_count"])
    n_kv_heads = int(meta.get("llama.attention.head_count_kv", n_heads))
    d_model = int(meta["llama.embedding_length"])
    tensors = {t.name: t for t in reader.tensors}
    rope_dims = int(meta.get("llama.rope.dimension_count", d_model // n_heads))
    if rope_dims != d_model // n_heads:
        raise ValueError(f"rope.dimension_count={rope_dims} != d_head={d_model // n_heads}: "
                         "minillm rotates every dimension of a head")
    if "llama.rope.scaling.type" in meta and meta["llama.rope.scaling.type"] != "none":
        raise ValueError(f"rope scaling {meta['llama.rope.scaling.type']!r}: minillm "
                         "implements plain RoPE")
    cfg = TransformerConfig.llama_like(
        vocab_size=tensors["token_embd.weight"].shape[1].item(), d_model=d_model,
        n_heads=n_heads, n_kv_heads=None if n_kv_heads == n_heads else n_kv_heads,
        n_layers=int(meta["llama.block_count"]), d_ff=int(meta["llama.feed_forward_length"]),
        max_seq_len=int(meta["llama.context_length"]),
        norm_eps=float(meta["llama.attention.layer_norm_rms_epsilon"]),
        rope_base=float(meta.get("llama.rope.freq_base", 10000.0)),
        tie_embeddings="output.weight" not in tensors)
    state = {}
    for ours in gguf_llama_names(cfg):
        if ours == "lm_head.weight" and cfg.tie_embeddings:
            continue
        state[ours] = gguf_llama_weight(reader, ours, cfg)
    return cfg, state


def gguf_llama_names(cfg) -> dict:
    """{minillm parameter name: GGUF tensor name} for a Llama-architecture DecoderLM config."""
    names = {f"{ours}.weight": f"{theirs}.weight" for ours, theirs in GGUF_LLAMA_NAMES.items()}
    for i in range(cfg.n_layers):
        names.update({f"layers.{i}.{ours}.weight": f"blk.{i}.{theirs}.weight"
                      for ours, theirs in GGUF_LLAMA_LAYER_NAMES.items()})
    return names


def gguf_llama_weight(reader, name, cfg) -> torch.Tensor:
    """One weight of a GGUF Llama file, by minillm's parameter name, as a float32 tensor of the
    DecoderLM's shape: decoded from the file's bytes (the reader memory-maps the file, so this
    costs only the memory of the one tensor). reader: a gguf.GGUFReader; cfg: the model's
    TransformerConfig (from from_gguf_llama)."""
    from minillm.np.quants import dequantize

    theirs = gguf_llama_names(cfg).get(name)
    tensors = {t.name: t for t in reader.tensors}
    if theirs is None or theirs not in tensors:
        raise ValueError(f"the GGUF file has no tensor for minillm's {name!r}"
                         + ("" if theirs is None else f" (looked for {theirs})"))
    t = tensors[theirs]
    shape = tuple(int(n) for n in reversed(t.shape))
    weight = dequantize(t.data, t.tensor_type.name).reshape(shape)
    if theirs.endswith(("attn_q.weight", "attn_k.weight")):
        heads = cfg.n_heads if theirs.endswith("attn_q.weight") else cfg.n_kv_heads or cfg.n_heads
        weight = rope_pairs_to_halves(weight, heads)
    return torch.from_numpy(weight.copy())


def rope_pairs_to_halves(weight, n_heads):
    """The rows of a q or k projection (n_heads * d_head, d_model), reordered inside each head
    from llama.cpp's interleaved RoPE layout (rows 2i and 2i+1 form rotated pair i) to the
    half-split layout (rows i and i + d_head/2 form pair i) that minillm's `rope` rotates."""
    rows = weight.shape[0]
    d_head = rows // n_heads
    return (weight.reshape(n_heads, d_head // 2, 2, *weight.shape[1:]).swapaxes(1, 2)
            .reshape(weight.shape))


def _hf_activation(name):
    if name not in _HF_ACTIVATIONS:
        raise ValueError(f"activation {name!r} is not one minillm has ({sorted(_HF_ACTIVATIONS)})")
    return _HF_ACTIVATIONS[name]


# ---- small helpers -----------------------------------------------------------------------------


def _state(modules):
    """{minillm name: source module with .weight (and maybe .bias)} -> flat state dict."""
    state = {}
    for name, module in modules.items():
        bias = getattr(module, "bias", None)
        state.update(_weight_and_bias(name, _copy(module.weight),
                                      None if bias is None else _copy(bias)))
    return state


def _weight_and_bias(name, weight, bias=None):
    state = {f"{name}.weight": weight}
    if bias is not None:
        state[f"{name}.bias"] = bias
    return state


def _copy(tensor):
    return tensor.detach().clone()
