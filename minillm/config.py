"""One dataclass describes every Transformer in the course, NumPy and PyTorch alike.

The same `TransformerConfig` is read by `minillm.np` (the NumPy reference) and by the PyTorch
twins, so a model and its reference can never disagree about a hyper-parameter. Presets give
laptop-sized models names instead of magic numbers: `TransformerConfig.tiny()`.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, replace

from minillm.checks import check_kv_heads

NORMS = ("layer", "rms")
ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "swiglu")
POSITIONALS = ("learned", "sinusoidal", "rope", "none")


# Fields added after checkpoints were already saved: config.json leaves them out while they hold
# these defaults (and a config.json without them means these defaults).
OMITTED_WHEN_DEFAULT = {"n_kv_heads": None}


@dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters of an encoder, a decoder or a decoder-only language model.

    vocab_size:     number of token ids the embedding table holds.
    d_model:        width of every token vector (the residual stream).
    n_heads:        attention heads; each head works in d_head = d_model // n_heads dimensions.
    n_kv_heads:     key/value heads (grouped-query attention（分组查询注意力）): each group of
                    n_heads // n_kv_heads query heads shares one key and one value head, so the
                    k/v projections and the KV cache shrink by that factor. None = n_heads (plain
                    multi-head attention); 1 = multi-query attention.
    n_layers:       how many layers (blocks) are stacked.
    d_ff:           hidden width of the feed-forward network.
    max_seq_len:    longest sequence the positional table (and the model) accepts.
    norm:           "layer" (LayerNorm) or "rms" (RMSNorm).
    norm_eps:       the epsilon inside the norm (1e-5 in GPT-2, 1e-12 in BERT, 1e-6 in Llama).
    norm_first:     True = pre-LN, x + Sublayer(Norm(x)); False = post-LN, Norm(x + Sublayer(x)).
    activation:     feed-forward non-linearity: "relu", "gelu" (exact), "gelu_tanh", "swiglu".
    positional:     "learned", "sinusoidal", "rope" (rotary, inside attention) or "none".
    rope_base:      the base b of the rotary angles theta_i = b^(-2i/d_head).
    bias:           whether linear layers (and LayerNorm) carry a bias.
    tie_embeddings: decoder LM only: the output head reuses the token embedding matrix.
    n_segments:     encoder only: size of the segment (token-type) table; 0 = none.
    embedding_norm: encoder only: a norm right after the embeddings (BERT has one).
    dropout:        dropout probability used by the PyTorch twin while training (NumPy has none).
    """

    vocab_size: int = 256
    d_model: int = 64
    n_heads: int = 4
    n_kv_heads: int | None = None
    n_layers: int = 2
    d_ff: int = 256
    max_seq_len: int = 128
    norm: str = "layer"
    norm_eps: float = 1e-5
    norm_first: bool = True
    activation: str = "gelu"
    positional: str = "learned"
    rope_base: float = 10000.0
    bias: bool = True
    tie_embeddings: bool = True
    n_segments: int = 0
    embedding_norm: bool = False
    dropout: float = 0.0

    def __post_init__(self):
        for name in ("vocab_size", "d_model", "n_heads", "n_layers", "d_ff", "max_seq_len"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("n_segments", self.n_segments, minimum=0)
        for name in ("norm_first", "bias", "tie_embeddings", "embedding_norm"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        check_number("norm_eps", self.norm_eps, above=0)
        check_number("rope_base", self.rope_base, above=0)
        check_probability("dropout", self.dropout)
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}: "
                "every head needs d_model // n_heads dimensions"
            )
        if self.n_kv_heads is not None:
            check_kv_heads(self.n_heads, self.n_kv_heads)
        _check_choice("norm", self.norm, NORMS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("positional", self.positional, POSITIONALS)
        if self.positional == "rope" and self.d_head % 2:
            raise ValueError(f"rotary positions rotate pairs of dimensions: "
                             f"d_head={self.d_head} is odd")

    @property
    def d_head(self) -> int:
        """Width of one attention head: d_model // n_heads."""
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        """How many key/value heads attention has: n_kv_heads, or n_heads when it is unset."""
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    def replace(self, **changes) -> TransformerConfig:
        """A copy with some fields changed: `cfg.replace(n_layers=4)`."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """The fields as a dict (what checkpoints store). A field of OMITTED_WHEN_DEFAULT is left
        out while it has its default, so a model that does not use it is saved exactly as before
        the field existed."""
        fields = asdict(self)
        for name, default in OMITTED_WHEN_DEFAULT.items():
            if fields[name] == default:
                del fields[name]
        return fields

    # ---- named, laptop-sized presets -------------------------------------------------------
    @classmethod
    def tiny(cls, **changes) -> TransformerConfig:
        """A 2-layer, 64-wide pre-LN model: trains in seconds on a laptop CPU."""
        return cls(**changes)

    @classmethod
    def gpt2_like(cls, **changes) -> TransformerConfig:
        """GPT-2's recipe: pre-LN LayerNorm, tanh-GELU, learned positions, biases, tied head."""
        base = dict(norm="layer", norm_eps=1e-5, norm_first=True, activation="gelu_tanh",
                    positional="learned", bias=True, tie_embeddings=True)
        return cls(**{**base, **changes})

    @classmethod
    def llama_like(cls, **changes) -> TransformerConfig:
        """Llama's recipe: pre-norm RMSNorm, SwiGLU, rotary positions, no biases, untied head."""
        base = dict(norm="rms", norm_eps=1e-6, norm_first=True, activation="swiglu",
                    positional="rope", bias=False, tie_embeddings=False, d_ff=172)
        return cls(**{**base, **changes})

    @classmethod
    def bert_like(cls, **changes) -> TransformerConfig:
        """BERT's recipe: post-LN, exact GELU, learned positions, segments, a norm on embeddings."""
        base = dict(norm="layer", norm_eps=1e-12, norm_first=False, activation="gelu",
                    positional="learned", bias=True, n_segments=2, embedding_norm=True)
        return cls(**{**base, **changes})


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


# ---- the course's models by name, sized for a tokenizer and a window --------------------
PRESETS = ("tiny", "gpt2_like", "llama_like")   # the presets `python -m minillm train` offers


def model_config(preset, vocab_size, seq_len, d_model=None, n_layers=None, n_heads=None,
                 d_ff=None, dropout=0.0):
    """The preset's TransformerConfig, sized for the tokenizer and the window, with the sizes
    given; d_ff defaults to 4 x d_model (about 8/3 x d_model for llama_like's SwiGLU, which has
    three matrices instead of two, rounded up to a multiple of 4)."""
    sizes = {name: value for name, value in
             (("d_model", d_model), ("n_layers", n_layers), ("n_heads", n_heads))
             if value is not None}
    width = sizes.get("d_model", TransformerConfig().d_model)
    if d_ff is None:
        d_ff = 4 * math.ceil(8 * width / 3 / 4) if preset == "llama_like" else 4 * width
    make = getattr(TransformerConfig, preset)
    return make(vocab_size=vocab_size, max_seq_len=seq_len, d_ff=d_ff, dropout=dropout, **sizes)


# ---- range checks, shared with the training settings --------------------------------------
def check_int(name, value, minimum=None):
    """value must be an integer (not a float, not a bool), of at least minimum where given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        wanted = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
        raise ValueError(f"{name} must be {wanted}, got {value}")


def check_number(name, value, above=None, at_least=None):
    """value must be a finite real number, > above or >= at_least where given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if above is not None and not value > above:
        raise ValueError(f"{name} must be greater than {above}, got {value}")
    if at_least is not None and not value >= at_least:
        raise ValueError(f"{name} must be {at_least} or more, got {value}")


def check_probability(name, value):
    """value must be a number in [0, 1): a dropout rate, or a moment's decay rate."""
    check_number(name, value)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value}")


def check_adam_settings(betas, eps, weight_decay):
    """Adam's settings: betas a pair of decay rates in [0, 1), eps and weight_decay >= 0."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    check_probability("betas[0]", betas[0])
    check_probability("betas[1]", betas[1])
    check_number("eps", eps, at_least=0)
    check_number("weight_decay", weight_decay, at_least=0)
