"""The encoder-decoder Transformer: the NumPy reference equals the torch twin (logits and all three
kinds of attention, padding included); its hand-written backward equals autograd; padding in the
source changes nothing at the real positions; cached generation equals uncached; and a tiny one
learns to reverse strings."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _helpers import assert_close, assert_grads_close, param_grads, randomized, rng, to_np_params

import minillm.np as mnp
from minillm import TransformerConfig
from minillm.generate import generate_seq2seq
from minillm.np.transformer import encoder_decoder, encoder_decoder_backward
from minillm.transformer import EncoderDecoder

SMALL = dict(vocab_size=30, d_model=16, n_heads=4, n_layers=2, d_ff=24, max_seq_len=12)
CONFIGS = {
    "gpt2_like": TransformerConfig.gpt2_like(**SMALL),
    "llama_like": TransformerConfig.llama_like(**SMALL),
    "post_ln_sinusoidal_relu_untied": TransformerConfig(
        **SMALL, norm_first=False, positional="sinusoidal", activation="relu",
        tie_embeddings=False),
}
# Row 1 of the source ends in two padding tokens; row 0 of the target in one.
SRC_IS_TOKEN = np.array([[True] * 7, [True] * 5 + [False] * 2])
TGT_IS_TOKEN = np.array([[True] * 4 + [False], [True] * 5])


def _model(name, seed=0):
    torch.manual_seed(seed)
    return randomized(EncoderDecoder(CONFIGS[name]), seed=seed).eval()


def _ids(shape, seed):
    return rng(seed).integers(0, SMALL["vocab_size"], size=shape)


def _inputs(padded):
    src, tgt = _ids(SRC_IS_TOKEN.shape, 1), _ids(TGT_IS_TOKEN.shape, 2)
    return src, tgt, (SRC_IS_TOKEN if padded else None), (TGT_IS_TOKEN if padded else None)


def _tensors(*arrays):
    return [None if a is None else torch.tensor(a) for a in arrays]


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("name", CONFIGS)
def test_numpy_encoder_decoder_equals_the_torch_twin_on_both_attention_paths(name, padded):
    model = _model(name)
    src, tgt, src_is_token, tgt_is_token = inputs = _inputs(padded)
    logits, attentions = encoder_decoder(to_np_params(model), src, tgt, model.cfg, src_is_token,
                                         tgt_is_token)
    fused_logits, none = model(*_tensors(*inputs))
    twin_logits, twin_attentions = model(*_tensors(*inputs), need_weights=True)
    assert none is None
    assert_close(logits, fused_logits, atol=1e-12)
    assert_close(logits, twin_logits, atol=1e-12)
    assert list(attentions) == list(twin_attentions) == ["encoder", "decoder_self", "cross"]
    for kind, per_layer in attentions.items():
        assert len(per_layer) == model.cfg.n_layers
        for ours, twins in zip(per_layer, twin_attentions[kind]):
            assert_close(ours, twins, atol=1e-12)
    assert attentions["cross"][0].shape == (2, 4, TGT_IS_TOKEN.shape[1], SRC_IS_TOKEN.shape[1])


@pytest.mark.parametrize("name", CONFIGS)
def test_encoder_decoder_backward_equals_autograd_for_every_parameter(name):
    model = _model(name)
    src, tgt, src_is_token, tgt_is_token = inputs = _inputs(padded=True)
    dlogits = rng(3).standard_normal((*TGT_IS_TOKEN.shape, SMALL["vocab_size"]))
    logits, _ = model(*_tensors(*inputs))
    logits.backward(torch.tensor(dlogits))
    grads = encoder_decoder_backward(dlogits, to_np_params(model), src, tgt, model.cfg,
                                     src_is_token, tgt_is_token)
    assert_grads_close(grads, param_grads(model), atol=1e-9)


def test_every_parameter_of_the_encoder_and_the_decoder_gets_a_gradient():
    torch.manual_seed(0)
    model = EncoderDecoder(CONFIGS["llama_like"])
    src, tgt, src_is_token, _ = _tensors(*_inputs(padded=True))
    logits, _ = model(src, tgt, src_is_token)
    F.cross_entropy(logits.flatten(0, 1), tgt.flatten()).backward()
    silent = [name for name, p in model.named_parameters() if not p.grad.abs().sum() > 0]
    assert not silent, f"no gradient reaches {silent}"


def test_parameters_are_the_encoders_then_the_decoders_keyed_like_the_numpy_reference():
    model = EncoderDecoder(CONFIGS["gpt2_like"])
    keys = set(model.state_dict())
    assert {"encoder.tok_emb.weight", "encoder.layers.1.self_attn.q_proj.weight",
            "tok_emb.weight", "pos_emb.weight", "layers.1.cross_attn.k_proj.weight",
            "layers.0.norm3.weight", "final_norm.weight"} <= keys
    assert "lm_head.weight" not in keys            # tied to the target embedding (tok_emb)


@pytest.mark.parametrize("name", CONFIGS)
def test_padding_in_the_source_changes_nothing_at_the_real_positions(name):
    model = _model(name)
    src, tgt = torch.tensor(_ids((1, 5), 4)), torch.tensor(_ids((1, 6), 5))
    padded = torch.cat([src, torch.tensor(_ids((1, 3), 6))], dim=1)      # junk after the end
    is_token = torch.tensor([[True] * 5 + [False] * 3])
    alone, _ = model(src, tgt)
    with_padding, attentions = model(padded, tgt, is_token, need_weights=True)
    assert_close(with_padding, alone, atol=1e-12)
    for cross in attentions["cross"]:
        assert cross[..., 5:].abs().max() == 0                # nothing reads the padding
    np_logits, _ = encoder_decoder(to_np_params(model), padded.numpy(), tgt.numpy(), model.cfg,
                                   is_token.numpy())
    assert_close(np_logits, alone, atol=1e-12)


def test_source_padding_flags_of_the_wrong_shape_are_refused():
    model = _model("gpt2_like")
    src, tgt = torch.tensor(_ids((2, 5), 0)), torch.tensor(_ids((2, 3), 1))
    with pytest.raises(ValueError, match=r"is_token of shape \(2, 4\) does not match"):
        model(src, tgt, torch.ones(2, 4, dtype=torch.bool))
    memory, _ = model.encode(src)
    with pytest.raises(ValueError, match=r"is_token of shape \(2, 4\) does not match"):
        model.decode(tgt, memory, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="is_token of shape"):
        mnp.encoder(to_np_params(model.encoder), src.numpy(), model.cfg, np.ones((2, 4), bool))


# ---- generation ------------------------------------------------------------------------------

@pytest.mark.parametrize("sampling", [dict(greedy=True), dict(temperature=0.9, top_k=8)])
@pytest.mark.parametrize("name", ["gpt2_like", "llama_like"])
def test_cached_seq2seq_generation_equals_uncached(name, sampling):
    model = _model(name)
    src = torch.tensor(_ids((3, 7), 7))
    src_is_token = torch.tensor([[True] * 7, [True] * 4 + [False] * 3, [True] * 6 + [False]])
    runs = [generate_seq2seq(model, src, 10, bos_id=1, src_is_token=src_is_token,
                             use_cache=use_cache, generator=torch.Generator().manual_seed(5),
                             **sampling)
            for use_cache in (True, False)]
    assert runs[0].shape == (3, 11) and (runs[0][:, 0] == 1).all()
    assert torch.equal(runs[0], runs[1])


def test_seq2seq_generation_refuses_a_target_longer_than_max_seq_len():
    with pytest.raises(ValueError, match=r"1 tokens \+ 12 new tokens = 13 .*max_seq_len=12"):
        generate_seq2seq(_model("gpt2_like"), torch.ones(1, 3, dtype=torch.long), 12, bos_id=0)


LETTERS, BOS, EOS = 10, 10, 11              # ids 0..9 are letters; one vocabulary for both sides
LENGTH = 6


def _reversal_batch(n, generator):
    src = torch.randint(LETTERS, (n, LENGTH), generator=generator)
    tgt = torch.cat([src.flip(1), torch.full((n, 1), EOS)], dim=1)          # answer, then EOS
    tgt_in = torch.cat([torch.full((n, 1), BOS), tgt[:, :-1]], dim=1)        # BOS, then answer
    return src, tgt_in, tgt


def test_a_tiny_encoder_decoder_learns_to_reverse_strings():
    cfg = TransformerConfig(vocab_size=LETTERS + 2, d_model=32, n_heads=4, n_layers=1, d_ff=64,
                            max_seq_len=LENGTH + 4)
    torch.manual_seed(0)
    model = EncoderDecoder(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    batches = torch.Generator().manual_seed(0)
    for _ in range(100):
        src, tgt_in, tgt = _reversal_batch(64, batches)
        logits, _ = model(src, tgt_in)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    src, _, tgt = _reversal_batch(256, torch.Generator().manual_seed(1))      # unseen strings
    out = generate_seq2seq(model, src, LENGTH + 3, bos_id=BOS, eos_id=EOS, greedy=True)
    assert out.shape[1] == 1 + LENGTH + 1         # every row stopped at EOS: generation ended
    exact = (out[:, 1:] == tgt).all(dim=1).float().mean().item()
    assert exact > 0.95, f"only {exact:.0%} of held-out strings reversed exactly"
