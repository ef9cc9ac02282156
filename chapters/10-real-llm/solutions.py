"""Solutions to chapter 10's exercises (try them yourself first!)."""
import numpy as np


# Exercise 1: bits per weight
def bits_per_weight(kind):
    block_bytes = {"Q8_0": 2 + 32, "Q4_1": 2 + 2 + 16, "Q4_0": 2 + 16, "F16": 2 * 32}[kind]
    return block_bytes * 8 / 32                   # every block holds 32 numbers


# Exercise 2: the KV cache with grouped-query attention
def kv_cache_bytes(n_layers, n_heads, n_kv_heads, d_head, seq, bytes_per_number):
    # keys and values (2) of the n_kv_heads shared heads; n_heads does not matter
    return 2 * n_layers * n_kv_heads * d_head * seq * bytes_per_number


# Exercise 3: decode a Q8_0 block
def decode_q8_0_block(raw):
    d = raw[0:2].view("<f2").astype(np.float32)               # the block's scale
    q = raw[2:34].view(np.int8).astype(np.float32)            # 32 signed codes
    return d * q
