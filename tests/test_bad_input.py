"""Wrong inputs fail early with a ValueError whose message names the shapes or values involved,
the same sentence from the NumPy reference and from the torch twin, never a broadcasting or
indexing traceback from deep inside (and never a silent wrong answer)."""
import numpy as np
import pytest
import torch
from _helpers import to_np_params

import minillm as M
import minillm.functional as tf
import minillm.np as mnp
import minillm.positional as tpos
from minillm import TransformerConfig

CFG = TransformerConfig(vocab_size=20, d_model=8, n_heads=2, n_layers=1, d_ff=16, max_seq_len=6)
LM = M.DecoderLM(CFG)
LM_PARAMS = to_np_params(LM)
EMBEDDING = M.Embedding(20, 8)
EMBEDDING_PARAMS = to_np_params(EMBEDDING)
MHA = M.MultiHeadAttention(8, 2)
MHA_PARAMS = to_np_params(MHA)


def zeros(*shape):
    return np.zeros(shape)


def tzeros(*shape):
    return torch.zeros(shape)


def sdpa_np(q, k, v, mask=None):
    return lambda: mnp.scaled_dot_product_attention(zeros(*q), zeros(*k), zeros(*v), mask)


def sdpa_torch(q, k, v, mask=None, need_weights=True):
    mask = None if mask is None else torch.tensor(mask)
    return lambda: M.scaled_dot_product_attention(tzeros(*q), tzeros(*k), tzeros(*v), mask,
                                                  need_weights=need_weights)


def lm_np(ids, is_token=None):
    return lambda: mnp.decoder_lm(LM_PARAMS, ids, CFG, is_token)


def lm_torch(ids, is_token=None):
    return lambda: LM(torch.tensor(ids), None if is_token is None else torch.tensor(is_token))


Q, K, V = (2, 3, 4), (2, 5, 4), (2, 5, 4)
INT_MASK = np.ones((3, 5), dtype=int)
EMPTY_IDS = np.zeros((1, 0), dtype=int)
LOGITS = np.zeros((2, 3, 5))

# id -> (numpy call, torch call, pattern the message must match)
CASES = {
    "q_and_k_d_head_differ": (
        sdpa_np((2, 3, 8), K, V), sdpa_torch((2, 3, 8), K, V),
        r"q has d_head=8 but k has d_head=4"),
    "k_and_v_lengths_differ": (
        sdpa_np(Q, K, (2, 6, 4)), sdpa_torch(Q, K, (2, 6, 4)),
        r"k has seq_k=5 but v has 6 positions"),
    "leading_dims_differ": (
        sdpa_np(Q, (3, 5, 4), (3, 5, 4)), sdpa_torch(Q, (3, 5, 4), (3, 5, 4)),
        r"share their leading \(batch, heads\) dimensions, got q \(2, 3, 4\), k \(3, 5, 4\)"),
    "q_is_a_vector": (
        sdpa_np((4,), K, V), sdpa_torch((4,), K, V),
        r"q must have at least 2 dimensions, got shape \(4,\)"),
    "mask_of_wrong_shape": (
        sdpa_np(Q, K, V, np.ones((4, 5), bool)), sdpa_torch(Q, K, V, np.ones((4, 5), bool)),
        r"mask of shape \(4, 5\) does not fit attention scores of shape \(2, 3, 5\)"),
    "mask_of_wrong_shape_fused_path": (
        sdpa_np(Q, K, V, np.ones((3, 6), bool)),
        sdpa_torch(Q, K, V, np.ones((3, 6), bool), need_weights=False),
        r"mask of shape \(3, 6\) does not fit attention scores of shape \(2, 3, 5\)"),
    "mask_of_ints": (
        sdpa_np(Q, K, V, INT_MASK), sdpa_torch(Q, K, V, INT_MASK),
        r"mask must be boolean \(True = may attend\), got dtype (torch\.)?int64"),
    "mask_of_floats": (
        sdpa_np(Q, K, V, INT_MASK * 1.0), sdpa_torch(Q, K, V, INT_MASK * 1.0, need_weights=False),
        r"mask must be boolean \(True = may attend\), got dtype (torch\.)?float64"),
    "d_model_not_divisible_by_n_heads": (
        lambda: mnp.multi_head_attention(MHA_PARAMS, zeros(1, 2, 8), n_heads=3),
        lambda: M.MultiHeadAttention(8, 3),
        r"d_model=8 is not divisible by n_heads=3"),
    "x_q_and_x_kv_batches_differ": (
        lambda: mnp.multi_head_attention(MHA_PARAMS, zeros(2, 3, 8), zeros(3, 3, 8), n_heads=2),
        lambda: MHA(tzeros(2, 3, 8), tzeros(3, 3, 8)),
        r"x_q has batch 2 but x_kv has batch 3"),
    "x_kv_of_wrong_width": (
        lambda: mnp.multi_head_attention(MHA_PARAMS, zeros(2, 3, 8), zeros(2, 3, 6), n_heads=2),
        lambda: MHA(tzeros(2, 3, 8), tzeros(2, 3, 6)),
        r"x_kv has d_model=6 in its last dimension \(shape \(2, 3, 6\)\), expected 8"),
    "x_q_without_batch": (
        lambda: mnp.multi_head_attention(MHA_PARAMS, zeros(3, 8), n_heads=2),
        lambda: MHA(tzeros(3, 8)),
        r"x_q must have at least 3 dimensions, got shape \(3, 8\)"),
    "sequence_longer_than_learned_table": (
        lambda: mnp.learned_positions({"weight": zeros(6, 8)}, 7),
        lambda: M.LearnedPositions(6, 8)(7),
        r"sequence of length 7 is longer than the positional table \(max_seq_len=6\)"),
    "sequence_longer_than_the_model": (
        lm_np(np.zeros((1, 7), int)), lm_torch(np.zeros((1, 7), int)),
        r"sequence of length 7 is longer than .* \(max_seq_len=6\)"),
    "token_id_too_large": (
        lm_np(np.array([[1, 20]])), lm_torch(np.array([[1, 20]])),
        r"token ids must lie in \[0, 20\), got values from 1 to 20"),
    "negative_token_id": (
        lambda: mnp.embedding(EMBEDDING_PARAMS, np.array([3, -1])),
        lambda: EMBEDDING(torch.tensor([3, -1])),
        r"token ids must lie in \[0, 20\), got values from -1 to 3"),
    "float_token_ids": (
        lm_np(np.array([[1.0, 2.0]])), lm_torch(np.array([[1.0, 2.0]])),
        r"token ids must be integers, got dtype (torch\.)?float64"),
    "empty_token_ids": (
        lm_np(EMPTY_IDS), lm_torch(EMPTY_IDS),
        r"got an empty sequence of token ids"),
    "ids_without_batch": (
        lm_np(np.array([1, 2])), lm_torch(np.array([1, 2])),
        r"ids must have at least 2 dimensions, got shape \(2,\)"),
    "is_token_of_wrong_length": (
        lm_np(np.array([[1, 2, 3]]), np.ones((1, 4), bool)),
        lm_torch(np.array([[1, 2, 3]]), np.ones((1, 4), bool)),
        r"is_token of shape \(1, 4\) does not match ids of shape \(1, 3\)"),
    "linear_input_of_wrong_width": (
        lambda: mnp.linear({"weight": zeros(3, 4)}, zeros(2, 5)),
        lambda: M.Linear(4, 3)(tzeros(2, 5)),
        r"x has in_features=5 in its last dimension \(shape \(2, 5\)\), expected 4"),
    "layer_norm_input_of_wrong_width": (
        lambda: mnp.layer_norm({"weight": zeros(4), "bias": zeros(4)}, zeros(2, 5)),
        lambda: M.LayerNorm(4)(tzeros(2, 5)),
        r"x has features=5 in its last dimension \(shape \(2, 5\)\), expected 4"),
    "rms_norm_input_of_wrong_width": (
        lambda: mnp.rms_norm({"weight": zeros(4)}, zeros(2, 5)),
        lambda: M.RMSNorm(4)(tzeros(2, 5)),
        r"x has features=5 in its last dimension \(shape \(2, 5\)\), expected 4"),
    "targets_of_wrong_shape": (
        lambda: mnp.cross_entropy(LOGITS, np.zeros((2, 4), int)),
        lambda: tf.cross_entropy(torch.tensor(LOGITS), torch.zeros(2, 4, dtype=torch.long)),
        r"targets of shape \(2, 4\) do not match logits of shape \(2, 3, 5\): "
        r"expected targets of shape \(2, 3\)"),
    "target_out_of_range": (
        lambda: mnp.cross_entropy(LOGITS, np.full((2, 3), 5)),
        lambda: tf.cross_entropy(torch.tensor(LOGITS), torch.full((2, 3), 5)),
        r"targets must lie in \[0, 5\) or equal ignore_index=-100, got values from 5 to 5"),
    "negative_target_that_is_not_ignore_index": (
        lambda: mnp.cross_entropy(LOGITS, np.array([[0, 1, -1], [2, 3, 4]])),
        lambda: tf.cross_entropy(torch.tensor(LOGITS), torch.tensor([[0, 1, -1], [2, 3, 4]])),
        r"targets must lie in \[0, 5\) or equal ignore_index=-100, got values from -1 to 4"),
    "unknown_activation": (
        lambda: mnp.feed_forward({}, zeros(2, 4), activation="tanh"),
        lambda: M.FeedForward(4, 8, activation="tanh"),
        r"activation must be one of \('relu', 'gelu', 'gelu_tanh', 'swiglu'\), got 'tanh'"),
    "unknown_gelu_approximation": (
        lambda: mnp.gelu(zeros(3), approximate="erf"),
        lambda: tf.gelu(tzeros(3), approximate="erf"),
        r"approximate must be 'none' or 'tanh', got 'erf'"),
    "unknown_norm_kind": (
        lambda: mnp.norm({"weight": zeros(4)}, zeros(2, 4), kind="batch"),
        lambda: M.build_norm(4, kind="batch"),
        r"norm kind must be 'layer' or 'rms', got 'batch'"),
    "rope_with_odd_d_head": (
        lambda: mnp.rope(zeros(3, 5)), lambda: M.rope(tzeros(3, 5)),
        r"rotary embeddings rotate pairs of dimensions: d_head=5 is odd"),
    "rope_attention_with_odd_d_head": (
        lambda: mnp.multi_head_attention(to_np_params(M.MultiHeadAttention(10, 2)), zeros(1, 3, 10),
                                         n_heads=2, rope_base=10000.0),
        lambda: M.MultiHeadAttention(10, 2, rope_base=10000.0)(tzeros(1, 3, 10)),
        r"d_head=5 is odd"),
    "rope_angles_with_odd_d_head": (
        lambda: mnp.rope_angles(3, 7), lambda: tpos.rope_angles(3, 7),
        r"d_head=7 is odd"),
    "sinusoidal_table_of_odd_width": (
        lambda: mnp.sinusoidal_encoding(4, 5), lambda: M.sinusoidal_encoding(4, 5),
        r"sinusoidal encodings pair sin and cos: d_model=5 must be even"),
    "padding_mask_without_batch": (
        lambda: mnp.padding_mask(np.ones(4, bool)), lambda: M.padding_mask(torch.ones(4).bool()),
        r"is_token must have at least 2 dimensions, got shape \(4,\)"),
}


def _sides():
    """Each case twice: once for the NumPy reference, once for the torch twin."""
    return [pytest.param(call, message, id=f"{case}-{side}")
            for case, (np_call, torch_call, message) in CASES.items()
            for side, call in (("numpy", np_call), ("torch", torch_call))]


@pytest.mark.parametrize("call, message", _sides())
def test_bad_input_raises_a_value_error_that_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("changes, message", [
    (dict(d_model=30, n_heads=4), r"d_model=30 is not divisible by n_heads=4"),
    (dict(norm="batch"), r"norm must be one of \('layer', 'rms'\), got 'batch'"),
    (dict(activation="gelu_new"), r"activation must be one of \('relu', 'gelu', 'gelu_tanh', "
                                  r"'swiglu'\), got 'gelu_new'"),
    (dict(positional="alibi"), r"positional must be one of \('learned', 'sinusoidal', 'rope', "
                               r"'none'\), got 'alibi'"),
    (dict(positional="rope", d_model=20, n_heads=4), r"d_head=5 is odd"),
    (dict(n_layers=0), r"n_layers must be a positive integer, got 0"),
    (dict(n_heads=4, n_kv_heads=3), r"n_heads=4 is not divisible by n_kv_heads=3"),
    (dict(n_heads=4, n_kv_heads=0), r"n_kv_heads must be a positive integer"),
], ids=["heads", "norm", "activation", "positional", "rope_odd_d_head", "no_layers",
        "kv_heads_not_dividing", "no_kv_heads"])
def test_config_rejects_impossible_models_before_any_weight_exists(changes, message):
    with pytest.raises(ValueError, match=message):
        TransformerConfig(**changes)
