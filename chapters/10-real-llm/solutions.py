"""Solutions to chapter 10's exercises (try them yourself first!)."""
import numpy as np


# Exercise 1: bits per weight
def bits_per_weight(kind):
    # (bits stored for one block: codes + scales + minimums, numbers in the block)
    block_bits, numbers = {
        "Q8_0": (16 + 32 * 8, 32),                 # float16 d; 32 int8 codes
        "Q4_1": (16 + 16 + 32 * 4, 32),            # float16 d and m; 32 four-bit codes
        "Q4_0": (16 + 32 * 4, 32),                 # float16 d; 32 four-bit codes
        "Q5_0": (16 + 32 * 4 + 32, 32),            # float16 d; 32 nibbles + 32 fifth bits
        "Q4_K": (16 + 16 + 8 * (6 + 6) + 256 * 4, 256),   # d, dmin; 8 x 6-bit (s, m); codes
        "F16": (16, 1),
    }[kind]
    return block_bits / numbers
    # Q5_0 5.5 > Q4_1 5 > Q4_0 = Q4_K = 4.5: Q4_K keeps a scale and a minimum per 32 numbers,
    # like Q4_1, but stores them in 6 bits each, scaled by one float16 pair per 256 numbers.


# Exercise 2: calibrate with several content-free inputs
def contextual_threshold(content_free_log_odds):
    # each input's p(Positive), normalised over the two labels, is sigmoid(its log-odds);
    # Zhao et al. average these probabilities, and the threshold is the average's log-odds
    p = 1 / (1 + np.exp(-np.asarray(content_free_log_odds, dtype=float)))
    mean = p.mean()
    return float(np.log(mean / (1 - mean)))
    # Why averaging the log-odds gives a larger threshold when one input leans strongly positive:
    # a probability cannot exceed 1, so that input adds at most 1/n to the mean probability,
    # however far it leans (sigmoid saturates); its log-odds can be any size, and add all of it,
    # divided by n, to the mean log-odds. E.g. log-odds [6, 0, 0]: the mean log-odds is +2.00,
    # the mean probability (0.998 + 0.5 + 0.5) / 3 = 0.666 gives a threshold of only +0.69.
    # (In general, when every input leans positive (p >= 1/2), the log-odds of the mean
    # probability is at most the mean log-odds: log-odds(p) is convex for p >= 1/2, Jensen.)


# Exercise 3: decode a Q8_0 block
def decode_q8_0_block(raw):
    d = raw[0:2].view("<f2").astype(np.float32)               # the block's scale
    q = raw[2:34].view(np.int8).astype(np.float32)            # 32 signed codes
    return d * q
