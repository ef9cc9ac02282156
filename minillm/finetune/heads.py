"""A task head on a pretrained body, and the body run without its own head.

A "body" is a `minillm.Encoder` (BERT-style) or `minillm.DecoderLM` (GPT-style). `run_layers`
runs the body's layers through `body.residual_stream` (the steps of the body's own `forward`
after `embed`), so that it can take embeddings of its own (as `SoftPrompt` does) and stop before
the language-model head. `SequenceClassifier` pools the body's states into one vector per
sequence and puts a small classifier on it; `MultiTaskModel` shares one body among several heads.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minillm.data import pad_batch
from minillm.layers import Linear
from minillm.objectives import mean_pool
from minillm.transformer import DecoderLM, Encoder

POOLINGS = ("mean", "first", "last")


# ---- running a body without its head -------------------------------------------------------
def _check_body(body):
    if not isinstance(body, (Encoder, DecoderLM)):
        raise ValueError(f"the body must be a minillm Encoder or DecoderLM, got "
                         f"{type(body).__name__}")


def run_layers(body, x, is_token=None):
    """The body's layers (and final norm, pre-LN only) on input embeddings x: (batch, seq,
    d_model), as the body's own forward runs them after `body.embed`; is_token: (batch, seq)
    bool, False = padding. Returns hidden states (batch, seq, d_model)."""
    _check_body(body)
    states, _ = body.residual_stream(x, is_token)
    return body.final_norm(states[-1]) if body.cfg.norm_first else states[-1]


def hidden_states(body, ids, is_token=None):
    """ids: (batch, seq) -> the last layer's states (batch, seq, d_model): an Encoder's output,
    or what a DecoderLM feeds its output head."""
    _check_body(body)
    return run_layers(body, body.embed(ids), is_token)


# ---- task heads ----------------------------------------------------------------------------
def pool(hidden, is_token=None, pooling="mean"):
    """One vector per sequence from hidden: (batch, seq, d) -> (batch, d).

    "mean": the average over real tokens (sentence-transformers; is_token: False = padding);
    "first": the first token's state (BERT's [CLS]); "last": the last real token's state, the
    only one that has seen the whole sequence in a causal (GPT-style) model; padding may be on
    either side.
    """
    if pooling == "mean":
        return mean_pool(hidden, is_token)
    if pooling == "first":
        return hidden[:, 0]
    if pooling == "last":
        batch, seq = hidden.shape[:2]
        if is_token is None:
            return hidden[:, -1]
        last = seq - 1 - is_token.flip(1).int().argmax(dim=1)  # position of the last True
        return hidden[torch.arange(batch, device=hidden.device), last]
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


def _pooling_for(body, pooling):
    """The pooling to use: None picks "last" for a DecoderLM, "mean" for an Encoder."""
    _check_body(body)
    causal = isinstance(body, DecoderLM)
    if pooling is None:
        return "last" if causal else "mean"
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if causal and pooling == "first":
        raise ValueError('pooling="first" on a DecoderLM: in a causal model the first token sees '
                         'only itself; use "last" (or "mean")')
    return pooling


def _head(d_model, n_classes, dropout):
    """Dropout then Linear(d_model, n_classes), the Linear zero-initialised: a new head starts
    by predicting every class with equal probability (loss = log n_classes)."""
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"a classifier needs n_classes >= 2, got {n_classes!r}")
    linear = Linear(d_model, n_classes)
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    return nn.Sequential(nn.Dropout(dropout), linear)


class SequenceClassifier(nn.Module):
    """A pretrained body plus a new linear head: token ids -> class scores.

    body: an Encoder or a DecoderLM (its language-model head is not used).
    pooling: "mean", "first" or "last" (see `pool`); None = "last" for a DecoderLM, "mean" for
    an Encoder. dropout: on the pooled vector, while training.
    Submodules: body, head (Dropout, Linear(d_model, n_classes)).
    """

    def __init__(self, body, n_classes, pooling=None, dropout=0.0):
        super().__init__()
        self.pooling = _pooling_for(body, pooling)
        self.body = body
        self.head = _head(body.cfg.d_model, n_classes, dropout)

    def features(self, ids, is_token=None):
        """The pooled vectors the head reads: (batch, seq) ids -> (batch, d_model). With the
        body frozen they never change, so they can be computed once and the head trained on
        them alone (a "linear probe"), many steps for the price of one forward pass."""
        return pool(hidden_states(self.body, ids, is_token), is_token, self.pooling)

    def forward(self, ids, is_token=None):
        """ids: (batch, seq); is_token: (batch, seq) bool, False = padding.
        Returns logits (batch, n_classes)."""
        return self.head(self.features(ids, is_token))


class MultiTaskModel(nn.Module):
    """One shared body, one linear head per task: each task's gradient shapes the same body.

    heads: {task name: n_classes}, e.g. {"sentiment": 2, "topic": 4}. pooling, dropout: as in
    `SequenceClassifier`. Submodules: body, heads (a ModuleDict keyed by task).
    """

    def __init__(self, body, heads, pooling=None, dropout=0.0):
        super().__init__()
        if not heads:
            raise ValueError("give at least one task, e.g. heads={'sentiment': 2}")
        self.pooling = _pooling_for(body, pooling)
        self.body = body
        self.heads = nn.ModuleDict({task: _head(body.cfg.d_model, n, dropout)
                                    for task, n in heads.items()})

    def forward(self, ids, is_token=None, task=None):
        """ids: (batch, seq); is_token: (batch, seq) bool, False = padding; task: a key of heads.
        Returns logits (batch, n_classes of that task)."""
        if task not in self.heads:
            raise ValueError(f"unknown task {task!r}; this model has heads for "
                             f"{sorted(self.heads)}")
        return self.heads[task](pool(hidden_states(self.body, ids, is_token), is_token,
                                     self.pooling))


def classification_batch(texts, labels, tokenizer, pad_id, max_tokens=None):
    """The batch classification_loss takes: (ids, is_token, labels). Each text is encoded with
    tokenizer.encode, cut to its first max_tokens tokens (None: all) and padded on the right with
    pad_id: ids and is_token (batch, seq); labels (batch,) class ids."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels: one label per text")
    ids, is_token = pad_batch([tokenizer.encode(text)[:max_tokens] for text in texts], pad_id)
    return ids, is_token, torch.as_tensor(labels, dtype=torch.long)


def classification_loss(model, batch):
    """Cross-entropy of a SequenceClassifier on batch = (ids, is_token, labels): ids and
    is_token (batch, seq), labels (batch,) class ids. A loss_fn for `minillm.train.train`."""
    ids, is_token, labels = batch
    return F.cross_entropy(model(ids, is_token), labels)
