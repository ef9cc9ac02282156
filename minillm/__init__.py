"""minillm: the small library behind the course 大语言模型原理基础与前沿.

`minillm.np` is the NumPy reference (forward and hand-written backward); the modules here are its
PyTorch twins, with the same names (a NumPy function `multi_head_attention` has the twin class
`MultiHeadAttention`), the same arguments and the same parameter names.
"""
from minillm.attention import (
    KVCache,
    MultiHeadAttention,
    causal_mask,
    merge_heads,
    padding_mask,
    repeat_kv,
    scaled_dot_product_attention,
    split_heads,
)
from minillm.config import TransformerConfig
from minillm.layers import Embedding, FeedForward, LayerNorm, Linear, RMSNorm, SwiGLU, build_norm
from minillm.positional import LearnedPositions, rope, sinusoidal_encoding
from minillm.transformer import (
    DecoderLayer,
    DecoderLM,
    Encoder,
    EncoderDecoder,
    EncoderLayer,
    residual,
)

__version__ = "0.1.0"
