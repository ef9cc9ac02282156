"""Pretraining objectives: what a model is asked to predict, and the loss that scores it.

- causal LM (GPT): predict every next token.                       `causal_lm_loss`
- masked LM + next-sentence prediction (BERT): predict hidden       `mask_tokens`, `nsp_pairs`,
  tokens, and whether sentence B really follows sentence A.         `pack_pairs`, `MaskedLMModel`,
                                                                    `masked_lm_loss`
- denoising (T5, BART): rebuild the spans cut out of a text.       `span_corruption`,
                                                                    `text_infilling`, `seq2seq_loss`
- contrastive sentence embeddings (SimCSE): the two dropout views   `mean_pool`,
  of a sentence should be closer to each other than to any other   `contrastive_loss`,
  sentence in the batch.                                           `simcse_loss`
- contrastive image-text pretraining (CLIP): each image should      `clip_loss`
  pick out its own caption in the batch, and each caption its image.

Every `*_loss(model, batch)` has the signature `minillm.train.train` takes as its loss_fn.
The losses use torch's fused `F.cross_entropy`: the same value as the course's own
`minillm.functional.cross_entropy` (a test checks), with less memory for a large vocabulary.
Random choices take an optional torch.Generator and are drawn on the CPU, so the same seed
gives the same masks and spans on every device.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minillm.checks import check_is_token, check_target_shape
from minillm.data import IGNORE_INDEX, pad_batch
from minillm.layers import Linear
from minillm.transformer import Encoder


def _cross_entropy(logits, labels):
    """Mean cross-entropy over the labels that are not IGNORE_INDEX; 0 if there are none (a
    short sequence can end up with no masked token), where F.cross_entropy would give nan.
    logits: (..., n_classes); labels: (...)."""
    check_target_shape(logits, labels)
    total = F.cross_entropy(logits.flatten(0, -2), labels.flatten(), reduction="sum",
                            ignore_index=IGNORE_INDEX)
    return total / (labels != IGNORE_INDEX).sum().clamp(min=1)


# ---- causal language modelling (GPT) -------------------------------------------------------
def causal_lm_loss(model, batch):
    """batch = (x, y): (batch, seq) ids, y[:, t] the token after x[:, t] (IGNORE_INDEX to skip
    one). model(x) -> (logits (batch, seq, vocab), ...), a DecoderLM."""
    x, y = batch
    logits, _ = model(x)
    return _cross_entropy(logits, y)


# ---- masked language modelling + next-sentence prediction (BERT) ---------------------------
def mask_tokens(ids, is_token, mask_id, vocab_size, special_ids, p=0.15, generator=None):
    """BERT's masking: pick each ordinary token with probability p; of the picked ones, 80%
    become mask_id, 10% a random ordinary token, 10% stay as they are.

    ids: (...) LongTensor; is_token: same shape, bool, False = padding (None: all tokens).
    special_ids: ids never picked ([CLS], [SEP], [PAD]...; mask_id is added); random
    replacements are drawn from the other ids, so a special token never appears by chance.
    Returns (inputs, labels): inputs the masked ids; labels the original id where a token was
    picked, IGNORE_INDEX elsewhere, so only picked tokens are scored. The random replacements and
    unchanged tokens keep the model from trusting that every visible token is the true one.
    """
    ids = torch.as_tensor(ids, dtype=torch.long)
    is_token = torch.ones_like(ids, dtype=torch.bool) if is_token is None else (
        torch.as_tensor(is_token, dtype=torch.bool))
    check_is_token(is_token, ids.shape)
    if not 0 <= p <= 1:
        raise ValueError(f"p must be a probability in [0, 1], got {p}")
    special_set = {*special_ids, mask_id}
    special = torch.tensor(sorted(special_set), dtype=torch.long)
    ordinary = torch.tensor([i for i in range(vocab_size) if i not in special_set])
    if len(ordinary) == 0:
        raise ValueError("every id in the vocabulary is special: no ordinary token to draw "
                         "random replacements from")
    device, ids, is_token = ids.device, ids.cpu(), is_token.cpu()
    picked = torch.rand(ids.shape, generator=generator) < p
    picked &= is_token & ~torch.isin(ids, special)
    action = torch.rand(ids.shape, generator=generator)
    random_ids = ordinary[torch.randint(len(ordinary), ids.shape, generator=generator)]
    inputs = torch.where(picked & (action < 0.8), mask_id, ids)
    inputs = torch.where(picked & (action >= 0.8) & (action < 0.9), random_ids, inputs)
    labels = torch.where(picked, ids, IGNORE_INDEX)
    return inputs.to(device), labels.to(device)


def nsp_pairs(documents, n, generator=None):
    """n (sentence_a, sentence_b, is_next) triples for next-sentence prediction, as BERT made.

    documents: list of documents, each a list of sentences (strings or lists of token ids).
    sentence_a is a random sentence that has a successor in its document; with probability 1/2
    sentence_b is that successor (is_next=True), otherwise a random sentence of another
    document (is_next=False).
    """
    starts = [(d, i) for d, doc in enumerate(documents) for i in range(len(doc) - 1)]
    if not starts:
        raise ValueError("nsp_pairs needs a document of at least two sentences")
    if sum(1 for doc in documents if doc) < 2:
        raise ValueError("nsp_pairs needs at least two non-empty documents: a 'not next' "
                         "sentence comes from a different document")
    pairs = []
    for _ in range(n):
        d, i = starts[_randint(len(starts), generator)]
        if torch.rand(1, generator=generator).item() < 0.5:
            pairs.append((documents[d][i], documents[d][i + 1], True))
        else:
            others = [e for e, doc in enumerate(documents) if doc and e != d]
            other = documents[others[_randint(len(others), generator)]]
            pairs.append((documents[d][i], other[_randint(len(other), generator)], False))
    return pairs


def _randint(high, generator):
    return int(torch.randint(high, (1,), generator=generator))


def pack_pairs(pairs, cls_id, sep_id, pad_id):
    """BERT's input for sentence pairs: [CLS] a [SEP] b [SEP], padded to one batch.

    pairs: (ids_a, ids_b, is_next) triples (nsp_pairs of token id lists). Returns a dict:
    ids, is_token (False = padding), segments (0 for [CLS] a [SEP], 1 for b [SEP]; 0 on padding):
    (batch, max_len); is_next: (batch,) bool.
    Mask it next: `batch["ids"], batch["labels"] = mask_tokens(batch["ids"], ...)`.
    """
    sequences = [[cls_id, *a, sep_id, *b, sep_id] for a, b, _ in pairs]
    segments = [[0] * (len(a) + 2) + [1] * (len(b) + 1) for a, b, _ in pairs]
    ids, is_token = pad_batch(sequences, pad_id)
    segments, _ = pad_batch(segments, 0)
    is_next = torch.tensor([next_ for _, _, next_ in pairs], dtype=torch.bool)
    return {"ids": ids, "is_token": is_token, "segments": segments, "is_next": is_next}


class MaskedLMModel(nn.Module):
    """BERT's pretraining model: an Encoder with a masked-LM head and a next-sentence head.

    The MLM head scores every position against the vocabulary with the encoder's own token
    embedding matrix (tied, as in BERT) plus a bias, mlm_bias: (vocab,). The NSP head reads the
    first token ([CLS]): pooler (d_model -> d_model, tanh), then nsp_head (d_model -> 2).
    After pretraining, `.encoder` is the encoder to reuse.
    """

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.mlm_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.pooler = Linear(cfg.d_model, cfg.d_model)
        self.nsp_head = Linear(cfg.d_model, 2)

    def forward(self, ids, is_token=None, segments=None):
        """ids, is_token, segments: (batch, seq). Returns (mlm_logits (batch, seq, vocab),
        nsp_logits (batch, 2): class 1 = "b follows a")."""
        hidden, _ = self.encoder(ids, is_token, segments)
        mlm_logits = hidden @ self.encoder.tok_emb.weight.T + self.mlm_bias
        nsp_logits = self.nsp_head(torch.tanh(self.pooler(hidden[:, 0])))
        return mlm_logits, nsp_logits


def masked_lm_loss(model, batch):
    """MLM loss (+ NSP loss when the batch has "is_next") of a MaskedLMModel.

    batch: dict with "ids" (masked inputs) and "labels" (from mask_tokens), optional
    "is_token", "segments" and "is_next" (see pack_pairs). Without "is_next" it is the MLM-only
    objective RoBERTa found works as well.
    """
    mlm_logits, nsp_logits = model(batch["ids"], batch.get("is_token"), batch.get("segments"))
    loss = _cross_entropy(mlm_logits, batch["labels"])
    if "is_next" in batch:
        loss = loss + F.cross_entropy(nsp_logits, batch["is_next"].long())
    return loss


# ---- denoising (T5, BART) ------------------------------------------------------------------
def noise_spans(length, noise_density=0.15, mean_span=3.0, generator=None):
    """[(start, end), ...]: the spans of a length-token text to corrupt, as T5 chooses them.

    round(length * noise_density) tokens (at least 1, and at least 1 kept) fall in
    round(noisy / mean_span) spans; the lengths of the noisy spans and of the kept stretches
    between them are random. As in T5 the text starts with kept tokens and ends with a span.
    """
    if length < 2:
        raise ValueError(f"a text needs at least 2 tokens to corrupt, got {length}")
    n_noise = min(max(round(length * noise_density), 1), length - 1)
    n_spans = min(max(round(n_noise / mean_span), 1), n_noise, length - n_noise)
    noise = _random_lengths(n_noise, n_spans, generator)
    kept = _random_lengths(length - n_noise, n_spans, generator)
    spans, position = [], 0
    for keep, span in zip(kept, noise):
        position += keep
        spans.append((position, position + span))
        position += span
    return spans


def _random_lengths(total, parts, generator):
    """total split into `parts` positive integers, every such split equally likely."""
    cuts = torch.randperm(total - 1, generator=generator)[: parts - 1] + 1
    edges = [0, *sorted(cuts.tolist()), total]
    return [b - a for a, b in zip(edges, edges[1:])]


def span_corruption(ids, sentinel_ids, noise_density=0.15, mean_span=3.0, generator=None):
    """T5's objective: cut spans out of ids; the model must write them back.

    ids: 1-D (list or LongTensor); sentinel_ids: distinct ids that mark the cuts, one per span.
    source: ids with span k replaced by sentinel_ids[k];
    target: sentinel_ids[0] span_0 sentinel_ids[1] span_1 ... (restore_spans inverts this).
    Returns (source, target), 1-D LongTensors.
    """
    ids = _flat_ids(ids)
    spans = noise_spans(len(ids), noise_density, mean_span, generator)
    if len(spans) > len(sentinel_ids):
        raise ValueError(f"{len(spans)} spans need {len(spans)} sentinel ids, "
                         f"got {len(sentinel_ids)}")
    source, target, position = [], [], 0
    for sentinel, (start, end) in zip(sentinel_ids, spans):
        source += [*ids[position:start].tolist(), sentinel]
        target += [sentinel, *ids[start:end].tolist()]
        position = end
    source += ids[position:].tolist()
    return torch.tensor(source), torch.tensor(target)


def restore_spans(source, target, sentinel_ids):
    """The text span_corruption started from: each sentinel in source replaced by its span.
    source, target: 1-D ids. Returns a 1-D LongTensor."""
    sentinels = set(sentinel_ids)
    spans, current = {}, None
    for token in _flat_ids(target).tolist():
        if token in sentinels:
            current = spans.setdefault(token, [])
        elif current is None:
            raise ValueError("target must start with a sentinel id")
        else:
            current.append(token)
    restored = []
    for token in _flat_ids(source).tolist():
        if token not in sentinels:
            restored.append(token)
        elif token in spans:
            restored += spans[token]
        else:
            raise ValueError(f"sentinel {token} is in the source but not in the target")
    return torch.tensor(restored)


def text_infilling(ids, mask_id, noise_density=0.3, mean_span=3.0, generator=None):
    """BART's objective: each span becomes one mask_id, and the model rewrites the whole text.

    Returns (source, target = ids), 1-D LongTensors. One [MASK] hides how many tokens are
    missing, so the model must also learn span lengths. (BART draws span lengths from a
    Poisson(3) distribution; this reuses T5's span choice so the two objectives differ only in
    what source and target hold.)
    """
    ids = _flat_ids(ids)
    source, position = [], 0
    for start, end in noise_spans(len(ids), noise_density, mean_span, generator):
        source += [*ids[position:start].tolist(), mask_id]
        position = end
    source += ids[position:].tolist()
    return torch.tensor(source), ids


def _flat_ids(ids):
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.ndim != 1:
        raise ValueError(f"ids must be one flat sequence of token ids, got shape "
                         f"{tuple(ids.shape)}")
    return ids


def seq2seq_loss(model, batch):
    """Cross-entropy of an EncoderDecoder trained with teacher forcing (denoising, translation).

    batch: the dict of minillm.data.seq2seq_batch: src, src_is_token, tgt_in, tgt_is_token,
    tgt_out (IGNORE_INDEX on padding).
    """
    logits, _ = model(batch["src"], batch["tgt_in"], batch.get("src_is_token"),
                      batch.get("tgt_is_token"))
    return _cross_entropy(logits, batch["tgt_out"])


# ---- contrastive sentence embeddings (SimCSE) ----------------------------------------------
def mean_pool(hidden, is_token=None):
    """One vector per sequence: the mean of its token vectors, padding left out.
    hidden: (batch, seq, d); is_token: (batch, seq) bool, False = padding. Returns (batch, d)."""
    if is_token is None:
        return hidden.mean(dim=1)
    weights = is_token.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)


def contrastive_loss(emb_a, emb_b, temperature=0.05):
    """InfoNCE with in-batch negatives, one-way as in SimCSE.

    emb_a, emb_b: (batch, d); row i of emb_b is the positive for row i of emb_a, every other
    row a negative. With s_ij = cos(a_i, b_j) / temperature the loss is the mean over i of
    -log(exp(s_ii) / sum_j exp(s_ij)): cross-entropy where the "class" of a_i is i.
    """
    if emb_a.shape != emb_b.shape or emb_a.ndim != 2:
        raise ValueError(f"emb_a and emb_b must both be (batch, d), got {tuple(emb_a.shape)} "
                         f"and {tuple(emb_b.shape)}")
    similarity = F.normalize(emb_a, dim=-1) @ F.normalize(emb_b, dim=-1).T / temperature
    return F.cross_entropy(similarity, torch.arange(len(emb_a), device=emb_a.device))


def clip_loss(image_emb, text_emb, temperature=0.07):
    """CLIP's symmetric InfoNCE (Radford et al. 2021): row i of image_emb and row i of text_emb
    are a matching (image, caption) pair, every other pairing in the batch a mismatch.

    image_emb, text_emb: (batch, d). With s_ij = cos(image_i, text_j) / temperature the loss is
    the mean of the two directions, image -> text (each image picks its caption among the batch's
    captions, a softmax over row i of s) and text -> image (each caption picks its image, a
    softmax over column j):
    (contrastive_loss(image_emb, text_emb) + contrastive_loss(text_emb, image_emb)) / 2.
    temperature: a positive float or a 0-d tensor (CLIP learns it as exp(-log_scale)).
    """
    if image_emb.shape != text_emb.shape or image_emb.ndim != 2:
        raise ValueError(f"image_emb and text_emb must both be (batch, d), got "
                         f"{tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    if torch.as_tensor(temperature).numel() != 1 or not torch.as_tensor(temperature).item() > 0:
        raise ValueError(f"temperature must be one positive number, got {temperature}")
    similarity = F.normalize(image_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T / temperature
    targets = torch.arange(len(image_emb), device=image_emb.device)
    return (F.cross_entropy(similarity, targets) + F.cross_entropy(similarity.T, targets)) / 2


def simcse_loss(model, batch, temperature=0.05):
    """Unsupervised SimCSE: encode the batch twice; dropout makes the two views differ, and
    each sentence must pick out its own other view among the batch's sentences.

    model: an Encoder with cfg.dropout > 0; batch = (ids, is_token), (batch, seq).
    """
    ids, is_token = batch
    if model.training and model.cfg.dropout == 0:
        raise ValueError("SimCSE needs dropout > 0: the two views of a sentence differ only "
                         "by their dropout masks (set TransformerConfig(dropout=0.1))")
    view_a = mean_pool(model(ids, is_token)[0], is_token)
    view_b = mean_pool(model(ids, is_token)[0], is_token)
    return contrastive_loss(view_a, view_b, temperature)
