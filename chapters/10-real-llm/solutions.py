"""Solutions to chapter 10's exercises (try them yourself first!)."""
import numpy as np


# Exercise 1: bits per weight
def bits_per_weight(kind):
    block_bytes = {"Q8_0": 2 + 32, "Q4_1": 2 + 2 + 16, "Q4_0": 2 + 16, "F16": 2 * 32}[kind]
    return block_bytes * 8 / 32                   # every block holds 32 numbers


# Exercise 2: calibrate with several content-free inputs
def contextual_threshold(content_free_log_odds):
    # each input's p(Positive), normalised over the two labels, is sigmoid(its log-odds);
    # Zhao et al. average these probabilities, and the threshold is the average's log-odds
    p = 1 / (1 + np.exp(-np.asarray(content_free_log_odds, dtype=float)))
    mean = p.mean()
    return float(np.log(mean / (1 - mean)))


# Exercise 3: decode a Q8_0 block
def decode_q8_0_block(raw):
    d = raw[0:2].view("<f2").astype(np.float32)               # the block's scale
    q = raw[2:34].view(np.int8).astype(np.float32)            # 32 signed codes
    return d * q
