"""Pretraining objectives: BERT's 80/10/10 masking and 50/50 sentence pairs, T5's invertible span
corruption, SimCSE's contrastive loss by hand, and a tiny GPT that learns a repeating pattern."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from minillm import DecoderLM, Encoder, TransformerConfig
from minillm.data import seq2seq_batch
from minillm.functional import cross_entropy
from minillm.np import objectives as np_objectives
from minillm.objectives import (
    IGNORE_INDEX,
    MaskedLMModel,
    causal_lm_loss,
    clip_loss,
    contrastive_loss,
    mask_tokens,
    masked_lm_loss,
    mean_pool,
    noise_spans,
    nsp_pairs,
    pack_pairs,
    restore_spans,
    seq2seq_loss,
    simcse_loss,
    span_corruption,
    text_infilling,
)
from minillm.train import TrainConfig, train
from minillm.transformer import EncoderDecoder

CFG = TransformerConfig.tiny(vocab_size=30, d_model=16, n_heads=2, d_ff=32, max_seq_len=24)
PAD, CLS, SEP, MASK = 0, 1, 2, 3
SPECIALS = [PAD, CLS, SEP, MASK]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---- causal LM -----------------------------------------------------------------------------
def test_causal_lm_loss_equals_the_courses_cross_entropy_and_skips_ignored_targets():
    torch.manual_seed(0)
    model = DecoderLM(CFG)
    x = torch.randint(30, (2, 6), generator=gen())
    y = torch.randint(30, (2, 6), generator=gen(1))
    y[1, 3:] = IGNORE_INDEX
    expected = cross_entropy(model(x)[0], y)
    assert torch.allclose(causal_lm_loss(model, (x, y)), expected, atol=1e-6)


def test_tiny_gpt_learns_a_repeating_pattern_in_100_steps():
    pattern = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6] * 40)

    def get_batch(step):
        starts = torch.randint(len(pattern) - 17, (8, 1), generator=gen(step))
        window = pattern[starts + torch.arange(17)]
        return window[:, :-1], window[:, 1:]

    torch.manual_seed(0)
    model = DecoderLM(TransformerConfig.tiny(vocab_size=10, d_model=32, n_heads=2, d_ff=64,
                                             max_seq_len=16))
    cfg = TrainConfig(steps=100, lr=1e-2, warmup_steps=10, device="cpu")
    history = train(model, causal_lm_loss, get_batch, cfg, progress=False)
    assert history["loss"][0] > 2.0
    assert sum(history["loss"][-10:]) / 10 < 0.1


# ---- masked LM -----------------------------------------------------------------------------
def test_mask_tokens_picks_15_percent_then_80_10_10():
    vocab = 1000
    ids = torch.randint(len(SPECIALS), vocab, (200, 500), generator=gen())
    inputs, labels = mask_tokens(ids, None, MASK, vocab, SPECIALS, generator=gen(1))
    picked = labels != IGNORE_INDEX
    n = picked.sum().item()
    assert n / ids.numel() == pytest.approx(0.15, abs=0.005)
    became_mask = (inputs[picked] == MASK).sum().item() / n
    unchanged = (inputs[picked] == ids[picked]).sum().item() / n
    random = 1 - became_mask - unchanged
    # a random replacement equals the original 1 time in 996: negligible at this tolerance
    assert (became_mask, random, unchanged) == pytest.approx((0.8, 0.1, 0.1), abs=0.01)


def test_mask_tokens_labels_hold_the_originals_only_where_picked():
    ids = torch.randint(len(SPECIALS), 30, (50, 40), generator=gen())
    inputs, labels = mask_tokens(ids, None, MASK, 30, SPECIALS, p=0.3, generator=gen(2))
    picked = labels != IGNORE_INDEX
    assert torch.equal(labels[picked], ids[picked])
    assert torch.equal(inputs[~picked], ids[~picked])


def test_special_tokens_and_padding_are_never_masked_nor_drawn_as_replacements():
    ids = torch.randint(30, (50, 40), generator=gen())
    is_token = torch.ones_like(ids, dtype=torch.bool)
    is_token[:, 30:] = False
    inputs, labels = mask_tokens(ids, is_token, MASK, 30, [PAD, CLS, SEP], p=0.9,
                                 generator=gen(3))
    picked = labels != IGNORE_INDEX
    assert not picked[~is_token].any()
    assert not torch.isin(ids[picked], torch.tensor(SPECIALS)).any()
    changed = picked & (inputs != MASK) & (inputs != ids)
    assert changed.any() and not torch.isin(inputs[changed], torch.tensor(SPECIALS)).any()


def test_mask_tokens_is_reproducible_from_the_generator_seed():
    ids = [[5, 6, 7, 8, 9, 10, 11, 12]] * 4
    first = mask_tokens(ids, None, MASK, 30, SPECIALS, p=0.5, generator=gen(7))
    again = mask_tokens(ids, None, MASK, 30, SPECIALS, p=0.5, generator=gen(7))
    assert all(torch.equal(a, b) for a, b in zip(first, again))


def test_mask_tokens_rejects_a_bad_probability():
    with pytest.raises(ValueError, match="p must be a probability"):
        mask_tokens([[5, 6]], None, MASK, 30, SPECIALS, p=1.5)


# ---- next-sentence prediction --------------------------------------------------------------
DOCUMENTS = [[f"d{d}s{s}" for s in range(2 + d % 4)] for d in range(10)]


def test_nsp_pairs_are_half_next_and_next_means_the_following_sentence():
    pairs = nsp_pairs(DOCUMENTS, 4000, generator=gen())
    assert sum(is_next for _, _, is_next in pairs) / len(pairs) == pytest.approx(0.5, abs=0.03)
    for a, b, is_next in pairs:
        doc_a, s_a = a[1:].split("s")
        doc_b, s_b = b[1:].split("s")
        if is_next:
            assert (doc_b, int(s_b)) == (doc_a, int(s_a) + 1)
        else:
            assert doc_b != doc_a


def test_nsp_pairs_need_two_documents_and_one_with_two_sentences():
    with pytest.raises(ValueError, match="at least two sentences"):
        nsp_pairs([["a"], ["b"]], 3)
    with pytest.raises(ValueError, match="at least two non-empty documents"):
        nsp_pairs([["a", "b", "c"]], 3)


def test_pack_pairs_lays_out_cls_a_sep_b_sep_with_segments_and_padding():
    batch = pack_pairs([([5, 6], [7], True), ([8], [9, 10, 11], False)], CLS, SEP, PAD)
    assert batch["ids"].tolist() == [[1, 5, 6, 2, 7, 2, 0], [1, 8, 2, 9, 10, 11, 2]]
    assert batch["segments"].tolist() == [[0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 1, 1, 1]]
    assert batch["is_token"].tolist()[0] == [True] * 6 + [False]
    assert batch["is_next"].tolist() == [True, False]


def bert_batch(seed=0):
    pairs = [([5, 6, 7], [8, 9], True), ([10, 11], [12, 13, 14, 15], False)]
    batch = pack_pairs(pairs, CLS, SEP, PAD)
    batch["ids"], batch["labels"] = mask_tokens(batch["ids"], batch["is_token"], MASK, 30,
                                                SPECIALS, p=0.4, generator=gen(seed))
    return batch


def test_masked_lm_model_ties_its_output_to_the_token_embedding():
    torch.manual_seed(0)
    model = MaskedLMModel(CFG.replace(n_segments=2))
    batch = bert_batch()
    mlm_logits, nsp_logits = model(batch["ids"], batch["is_token"], batch["segments"])
    assert mlm_logits.shape == (2, 9, 30) and nsp_logits.shape == (2, 2)
    hidden, _ = model.encoder(batch["ids"], batch["is_token"], batch["segments"])
    expected = hidden @ model.encoder.tok_emb.weight.T + model.mlm_bias
    assert torch.allclose(mlm_logits, expected)
    assert "mlm_head.weight" not in model.state_dict()


def test_masked_lm_loss_is_mlm_on_picked_tokens_plus_nsp():
    torch.manual_seed(0)
    model = MaskedLMModel(CFG.replace(n_segments=2))
    batch = bert_batch()
    mlm_logits, nsp_logits = model(batch["ids"], batch["is_token"], batch["segments"])
    mlm = cross_entropy(mlm_logits, batch["labels"])
    nsp = cross_entropy(nsp_logits, batch["is_next"].long())
    assert torch.allclose(masked_lm_loss(model, batch), mlm + nsp, atol=1e-6)
    mlm_only = {k: v for k, v in batch.items() if k != "is_next"}
    assert torch.allclose(masked_lm_loss(model, mlm_only), mlm, atol=1e-6)


def test_a_batch_with_nothing_masked_has_zero_mlm_loss_not_nan():
    model = MaskedLMModel(CFG)
    ids = torch.tensor([[5, 6, 7]])
    loss = masked_lm_loss(model, {"ids": ids, "labels": torch.full_like(ids, IGNORE_INDEX)})
    assert loss.item() == 0.0


# ---- denoising -----------------------------------------------------------------------------
SENTINELS = list(range(100, 120))


@pytest.mark.parametrize("length", [2, 3, 10, 37, 200])
@pytest.mark.parametrize("seed", range(5))
def test_span_corruption_is_invertible_and_counts_sentinels(length, seed):
    ids = torch.randint(50, (length,), generator=gen(seed))
    source, target = span_corruption(ids, SENTINELS, mean_span=3, generator=gen(seed))
    assert torch.equal(restore_spans(source, target, SENTINELS), ids)
    used = [t for t in target.tolist() if t in SENTINELS]
    assert used == [s for s in source.tolist() if s in SENTINELS] == SENTINELS[: len(used)]
    n_noise = len(target) - len(used)
    assert len(source) == length - n_noise + len(used)
    assert n_noise == min(max(round(length * 0.15), 1), length - 1)


def test_noise_spans_are_disjoint_sorted_and_average_the_mean_span():
    spans = noise_spans(1000, noise_density=0.15, mean_span=3.0, generator=gen())
    assert all(0 < a < b for a, b in spans)
    assert all(end < start for (_, end), (start, _) in zip(spans, spans[1:]))
    assert spans[-1][1] == 1000
    assert sum(b - a for a, b in spans) == 150 and len(spans) == 50


def test_span_corruption_needs_a_sentinel_per_span():
    with pytest.raises(ValueError, match="spans need .* sentinel ids, got 2"):
        span_corruption(list(range(100)), [100, 101], generator=gen())


def test_text_infilling_hides_each_span_behind_one_mask_and_targets_the_whole_text():
    ids = torch.arange(10, 70)
    source, target = text_infilling(ids, MASK, generator=gen())
    assert torch.equal(target, ids)
    n_masks = (source == MASK).sum().item()
    assert n_masks == len(noise_spans(60, 0.3, 3.0, generator=gen()))
    assert len(source) == 60 - 18 + n_masks


def test_seq2seq_loss_scores_the_decoder_against_tgt_out():
    torch.manual_seed(0)
    model = EncoderDecoder(CFG)
    sentinels = [25, 26, 27, 28, 29]  # inside the tiny model's vocabulary of 30
    pairs = [span_corruption(torch.arange(5, 25), sentinels, generator=gen(s)) for s in range(3)]
    batch = seq2seq_batch(pairs, pad_id=PAD, bos_id=CLS, eos_id=SEP)
    logits, _ = model(batch["src"], batch["tgt_in"], batch["src_is_token"],
                      batch["tgt_is_token"])
    expected = cross_entropy(logits, batch["tgt_out"])
    assert torch.allclose(seq2seq_loss(model, batch), expected, atol=1e-6)


def test_every_objective_plugs_into_train():
    """Dict batches, tuple batches, encoders, encoder-decoders: one loop trains them all."""
    cfg = TrainConfig(steps=3, warmup_steps=1, device="cpu")
    bert = MaskedLMModel(CFG.replace(n_segments=2))
    seq2seq = EncoderDecoder(CFG)
    simcse = Encoder(CFG.replace(dropout=0.1))
    pairs = [span_corruption(torch.arange(5, 25), [25, 26, 27, 28, 29], generator=gen(s))
             for s in range(3)]
    sentences = (torch.randint(4, 30, (6, 10), generator=gen()), torch.ones(6, 10, dtype=bool))
    runs = [(bert, masked_lm_loss, bert_batch),
            (seq2seq, seq2seq_loss, lambda step: seq2seq_batch(pairs, PAD, CLS, SEP)),
            (simcse, simcse_loss, lambda step: sentences)]
    for model, loss_fn, get_batch in runs:
        history = train(model, loss_fn, get_batch, cfg, progress=False)
        assert len(history["loss"]) == 3 and all(map(math.isfinite, history["loss"]))


# ---- contrastive ---------------------------------------------------------------------------
def test_contrastive_loss_equals_a_hand_computation():
    a = torch.randn(4, 8, generator=gen())
    b = torch.randn(4, 8, generator=gen(1))
    t = 0.1
    expected = 0.0
    for i in range(4):
        sims = [torch.dot(a[i], b[j]).item() / (a[i].norm() * b[j].norm()).item() / t
                for j in range(4)]
        expected += -math.log(math.exp(sims[i]) / sum(math.exp(s) for s in sims)) / 4
    assert contrastive_loss(a, b, temperature=t).item() == pytest.approx(expected, rel=1e-5)


def test_contrastive_loss_is_smallest_when_each_pair_is_identical():
    a = torch.randn(16, 32, generator=gen(), dtype=torch.float64)
    best = contrastive_loss(a, a, temperature=0.5).item()
    for seed in range(5):
        noisy = a + 0.5 * torch.randn(16, 32, generator=gen(seed + 1), dtype=torch.float64)
        assert contrastive_loss(a, noisy, temperature=0.5).item() > best
    orthogonal = torch.eye(16)
    assert contrastive_loss(orthogonal, orthogonal).item() < 1e-6


def test_clip_loss_equals_a_hand_computation_of_both_directions():
    images = torch.randn(5, 8, generator=gen(), dtype=torch.float64)
    texts = torch.randn(5, 8, generator=gen(1), dtype=torch.float64)
    t = 0.2
    s = [[torch.dot(images[i], texts[j]).item() / (images[i].norm() * texts[j].norm()).item() / t
          for j in range(5)] for i in range(5)]
    image_to_text = sum(-math.log(math.exp(s[i][i]) / sum(math.exp(v) for v in s[i]))
                        for i in range(5)) / 5
    text_to_image = sum(-math.log(math.exp(s[j][j]) / sum(math.exp(s[i][j]) for i in range(5)))
                        for j in range(5)) / 5
    expected = (image_to_text + text_to_image) / 2
    assert clip_loss(images, texts, temperature=t).item() == pytest.approx(expected, rel=1e-12)
    # the same as SimCSE's one-way loss taken both ways, and symmetric in its two arguments
    both_ways = (contrastive_loss(images, texts, t) + contrastive_loss(texts, images, t)) / 2
    assert clip_loss(images, texts, t).item() == pytest.approx(both_ways.item(), rel=1e-12)
    assert clip_loss(texts, images, t).item() == pytest.approx(expected, rel=1e-12)


def test_clip_loss_takes_a_learned_temperature_and_sends_it_a_gradient():
    images = torch.randn(6, 4, generator=gen())
    texts = images + 0.1 * torch.randn(6, 4, generator=gen(1))
    log_scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    loss = clip_loss(images, texts, temperature=1 / log_scale.exp())
    loss.backward()
    # matching pairs are the most similar, so a sharper softmax (larger scale) lowers the loss
    assert log_scale.grad.item() < 0
    assert loss.item() == pytest.approx(clip_loss(images, texts, 0.07).item(), rel=1e-5)


def test_clip_loss_rejects_unpaired_batches_and_bad_temperatures():
    with pytest.raises(ValueError, match=r"image_emb and text_emb must both be \(batch, d\)"):
        clip_loss(torch.randn(4, 8), torch.randn(5, 8))
    with pytest.raises(ValueError, match=r"image_emb and text_emb must both be \(batch, d\)"):
        clip_loss(torch.randn(4), torch.randn(4))
    for bad in (0.0, -0.1, torch.tensor([0.1, 0.2])):
        with pytest.raises(ValueError, match="temperature must be one positive number"):
            clip_loss(torch.randn(4, 8), torch.randn(4, 8), temperature=bad)


def test_clip_loss_numpy_twin_equals_pytorch_and_its_backward_equals_autograd():
    images = torch.randn(6, 5, generator=gen(), dtype=torch.float64, requires_grad=True)
    texts = torch.randn(6, 5, generator=gen(1), dtype=torch.float64, requires_grad=True)
    loss = clip_loss(images, texts, temperature=0.3)
    loss.backward(torch.tensor(2.0, dtype=torch.float64))
    a, b = images.detach().numpy(), texts.detach().numpy()
    assert np_objectives.clip_loss(a, b, 0.3) == pytest.approx(loss.item(), rel=1e-12)
    dimages, dtexts = np_objectives.clip_loss_backward(2.0, a, b, 0.3)
    np.testing.assert_allclose(dimages, images.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dtexts, texts.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_clip_loss_numpy_twin_rejects_what_the_pytorch_one_rejects():
    with pytest.raises(ValueError, match=r"image_emb and text_emb must both be \(batch, d\)"):
        np_objectives.clip_loss(np.zeros((4, 8)), np.zeros((5, 8)))
    with pytest.raises(ValueError, match="temperature must be one positive number"):
        np_objectives.clip_loss_backward(1.0, np.ones((4, 8)), np.ones((4, 8)), temperature=0)


def test_mean_pool_leaves_padding_out():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    is_token = torch.tensor([[True, True, False]])
    assert mean_pool(hidden, is_token).tolist() == [[2.0, 3.0]]
    assert mean_pool(hidden).tolist() == [pytest.approx([104 / 3, 106 / 3])]


def test_simcse_views_differ_by_dropout_and_need_it():
    ids = torch.randint(4, 30, (6, 10), generator=gen())
    is_token = torch.ones_like(ids, dtype=torch.bool)
    torch.manual_seed(0)
    loss = simcse_loss(Encoder(CFG.replace(dropout=0.1)).train(), (ids, is_token))
    assert math.isfinite(loss.item()) and loss.item() > 0
    with pytest.raises(ValueError, match="SimCSE needs dropout > 0"):
        simcse_loss(Encoder(CFG).train(), (ids, is_token))
