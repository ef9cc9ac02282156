"""Fine-tuning: adapting a pretrained model to a task by training few of its weights, or few new
ones.

- run a body without its output head:         `hidden_states`, `run_layers`, `lm_logits`
- a task head on a pretrained body:           `SequenceClassifier`, `MultiTaskModel`, `pool`,
                                              `classification_loss`
- choose what trains:                         `freeze`, `unfreeze`, `unfreeze_last_layers`,
                                              `count_parameters`
- LoRA, low-rank updates beside frozen        `LoRALinear`, `add_lora`, `merge_lora`
  weights (Hu et al., 2021):
- prompt tuning, trainable "virtual tokens"   `SoftPrompt`
  before the input (Lester et al., 2021):
- instruction tuning, loss on the answer:     `instruction_batch`, `loss_on_response`,
                                              `instruction_loss`
- stop when validation stops improving:       `EarlyStopping`

A "body" is a `minillm.Encoder` (BERT-style) or `minillm.DecoderLM` (GPT-style). This module
runs the body's layers through `body.residual_stream` (the steps of the body's own `forward`
after `embed`) so that it can feed them embeddings of its own, as `SoftPrompt` does, and stop
before the language-model head.
Every `*_loss(model, batch)` has the signature `minillm.train.train` takes as its loss_fn, and
`train`'s optimizer only updates parameters with requires_grad, so frozen weights stay put.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from minillm.data import IGNORE_INDEX, pad_batch
from minillm.functional import cross_entropy
from minillm.layers import Linear
from minillm.objectives import mean_pool
from minillm.transformer import DecoderLM, Encoder, lm_logits

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


def classification_loss(model, batch):
    """Cross-entropy of a SequenceClassifier on batch = (ids, is_token, labels): ids and
    is_token (batch, seq), labels (batch,) class ids. A loss_fn for `minillm.train.train`."""
    ids, is_token, labels = batch
    return F.cross_entropy(model(ids, is_token), labels)


# ---- what trains ---------------------------------------------------------------------------
def freeze(module):
    """Stop every parameter of module from training (requires_grad=False). Returns module."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def unfreeze(module):
    """Let every parameter of module train again. Returns module."""
    for p in module.parameters():
        p.requires_grad_(True)
    return module


def unfreeze_last_layers(body, k):
    """Freeze the body, then let its last k layers train, and its final norm (pre-LN), which
    sits after them. The top layers hold the most task-specific features; the bottom ones the
    most general. k = 0 freezes everything. Returns body."""
    _check_body(body)
    n_layers = len(body.layers)
    if not 0 <= k <= n_layers:
        raise ValueError(f"k must lie in [0, {n_layers}] (the body has {n_layers} layers), "
                         f"got {k}")
    freeze(body)
    if k:
        for layer in body.layers[n_layers - k:]:
            unfreeze(layer)
        if body.cfg.norm_first:
            unfreeze(body.final_norm)
    return body


def count_parameters(model, trainable_only=True):
    """Number of parameters (a tied weight counted once); only those that train by default."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# ---- LoRA ----------------------------------------------------------------------------------
class LoRALinear(nn.Module):
    """A frozen Linear plus a trainable low-rank update (LoRA):

        y = base(x) + (x A^T B^T) * alpha / rank,   A: (rank, in), B: (out, rank).

    The update B A has rank <= rank, so it trains rank * (in + out) numbers instead of
    in * out. A starts small and random (as nn.Linear inits a weight), B at zero: at first the
    layer computes exactly what base does, and training moves it away from there.
    x: (..., in) -> (..., out). Submodule: base; parameters: lora_A, lora_B; in_features,
    out_features and weight read like a Linear's.
    """

    def __init__(self, base: nn.Linear, rank=4, alpha=8):
        super().__init__()
        largest = min(base.in_features, base.out_features)
        if not isinstance(rank, int) or not 1 <= rank <= largest:
            raise ValueError(f"rank must be an integer in [1, {largest}] for a "
                             f"Linear({base.in_features}, {base.out_features}), got {rank!r}")
        self.base = freeze(base)
        self.rank, self.alpha, self.scale = rank, alpha, alpha / rank
        weight = base.weight
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, dtype=weight.dtype,
                                               device=weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, dtype=weight.dtype,
                                               device=weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    @property
    def in_features(self):
        return self.base.in_features

    @property
    def out_features(self):
        return self.base.out_features

    @property
    def weight(self):
        """The effective weight base.weight + B A * alpha / rank: (out, in), for code that reads
        a Linear's weight directly (an untied lm_head)."""
        return self.base.weight + self.delta_weight()

    def delta_weight(self):
        """The update to base.weight: B A * alpha / rank, (out, in)."""
        return self.lora_B @ self.lora_A * self.scale

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scale

    def merged(self):
        """base with the update folded into its weight: a plain Linear, as fast as before."""
        with torch.no_grad():
            self.base.weight += self.delta_weight()
        return self.base


def _replace(model, name, new_module):
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, new_module)


def add_lora(model, rank=4, alpha=8, targets=("q_proj", "v_proj")):
    """Freeze model, then wrap every nn.Linear whose name ends in one of targets in a
    LoRALinear, in place. The paper's default targets are the attention's query and value
    projections; "k_proj", "out_proj", "up", "down", "gate" also name Linears here.
    Returns the new trainable parameters (a list of each LoRALinear's lora_A, lora_B)."""
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear) and name}
    chosen = [name for name in linears if name.rpartition(".")[2] in targets]
    if not chosen:
        names = sorted({name.rpartition(".")[2] for name in linears})
        raise ValueError(f"no Linear in the model is named {targets}; its Linears are named "
                         f"{names}")
    freeze(model)
    params = []
    for name in chosen:
        lora = LoRALinear(linears[name], rank, alpha)
        _replace(model, name, lora)
        params += [lora.lora_A, lora.lora_B]
    return params


def merge_lora(model):
    """Fold every LoRALinear's update into its base weight and put the plain Linear back, in
    place: the same outputs, no extra cost per token, and the original state_dict keys (the
    merged weights stay frozen). Returns model."""
    loras = [name for name, m in model.named_modules() if isinstance(m, LoRALinear)]
    if not loras:
        raise ValueError("the model has no LoRALinear to merge; call add_lora first")
    for name in loras:
        _replace(model, name, model.get_submodule(name).merged())
    return model


# ---- prompt tuning -------------------------------------------------------------------------
class SoftPrompt(nn.Module):
    """n_virtual_tokens trainable vectors placed before the input embeddings of a frozen model.

    The model is frozen here; only `prompt`: (n_virtual_tokens, d_model) trains, a few thousand
    numbers per task. The real tokens keep their usual positions (learned or sinusoidal
    positions are added by `model.embed` before the prompt is put in front; rotary positions
    count the virtual tokens too). Prefix tuning goes further and gives every layer its own
    trainable keys and values; prompt tuning touches only the input.
    init_ids: optional token ids, one per virtual token, whose embeddings the prompt starts
    from (the paper's advice); otherwise random at the scale of the embedding table.
    Submodule: model.
    """

    def __init__(self, model, n_virtual_tokens, init_ids=None):
        super().__init__()
        _check_body(model)
        if not isinstance(n_virtual_tokens, int) or n_virtual_tokens < 1:
            raise ValueError(f"n_virtual_tokens must be a positive integer, got "
                             f"{n_virtual_tokens!r}")
        self.model = freeze(model)
        table = model.tok_emb.weight.detach()
        if init_ids is None:
            generator = torch.Generator().manual_seed(0)
            start = torch.randn(n_virtual_tokens, table.shape[1], generator=generator)
            start = start.to(table) * table.std()
        else:
            if len(init_ids) != n_virtual_tokens:
                raise ValueError(f"init_ids has {len(init_ids)} ids for {n_virtual_tokens} "
                                 "virtual tokens")
            start = table[torch.as_tensor(init_ids, device=table.device)]
        self.prompt = nn.Parameter(start.clone())

    def forward(self, ids, is_token=None):
        """ids: (batch, seq); is_token: (batch, seq) bool, False = padding.
        Returns what the model's forward returns, for the real tokens only: (logits (batch, seq,
        vocab), None) for a DecoderLM, (hidden (batch, seq, d_model), None) for an Encoder, so
        losses such as `causal_lm_loss(soft_prompt, batch)` take it in the model's place."""
        n = self.prompt.shape[0]
        x = self.model.embed(ids)
        x = torch.cat([self.prompt.expand(x.shape[0], -1, -1), x], dim=1)
        if is_token is not None:
            is_token = torch.as_tensor(is_token, dtype=torch.bool, device=x.device)
            is_token = torch.cat([is_token.new_ones(x.shape[0], n), is_token], dim=1)
        hidden = run_layers(self.model, x, is_token)[:, n:]
        if isinstance(self.model, DecoderLM):
            return lm_logits(self.model, hidden), None
        return hidden, None


# ---- instruction tuning --------------------------------------------------------------------
def loss_on_response(logits, targets, response_mask):
    """Mean cross-entropy over the response tokens only: the model learns to answer, not to
    predict the instruction it is given.

    logits: (batch, seq, vocab); targets: (batch, seq) the next token at each position;
    response_mask: (batch, seq) bool, True where targets is a token of the response.
    0 when no token is a response token.
    """
    if response_mask.dtype != torch.bool:
        raise ValueError(f"response_mask must be boolean (True = a response token), got dtype "
                         f"{response_mask.dtype}")
    if response_mask.shape != targets.shape:
        raise ValueError(f"response_mask of shape {tuple(response_mask.shape)} does not match "
                         f"targets of shape {tuple(targets.shape)}")
    return cross_entropy(logits, targets.masked_fill(~response_mask, IGNORE_INDEX))


def instruction_batch(pairs, pad_id):
    """A padded batch for instruction tuning a DecoderLM.

    pairs: list of (prompt_ids, response_ids), both non-empty lists of ints (end the response
    with an end-of-sequence id so the model learns to stop). Each example is prompt + response,
    read as next-token pairs. Returns (x, y, response_mask), each (batch, longest - 1):
    x the inputs, y the next tokens, response_mask True where y is a response token (never on
    padding, which is on the right, where causal attention never looks back at it).
    """
    xs, ys, masks = [], [], []
    for i, (prompt, response) in enumerate(pairs):
        if len(prompt) == 0 or len(response) == 0:
            raise ValueError(f"pair {i} has an empty prompt or response")
        seq = list(prompt) + list(response)
        xs.append(seq[:-1])
        ys.append(seq[1:])
        masks.append([t + 1 >= len(prompt) for t in range(len(seq) - 1)])
    x, _ = pad_batch(xs, pad_id)
    y, is_token = pad_batch(ys, pad_id)
    mask, _ = pad_batch([[int(m) for m in row] for row in masks], 0)
    return x, y, mask.bool() & is_token


def instruction_loss(model, batch):
    """`loss_on_response` of model (a DecoderLM or a SoftPrompt around one) on batch = (x, y,
    response_mask) from `instruction_batch`. A loss_fn for `minillm.train.train`."""
    x, y, response_mask = batch
    logits, _ = model(x)
    return loss_on_response(logits, y, response_mask)


# ---- early stopping ------------------------------------------------------------------------
class EarlyStopping:
    """Stop when the validation loss has not improved for `patience` evaluations in a row.

    An evaluation improves when its loss is below the best so far by more than min_delta.
    Give `step` the model too and it keeps a copy of the weights of the best evaluation, which
    `restore` puts back: the model that generalised best, not the one that trained longest.
    """

    def __init__(self, patience=3, min_delta=0.0):
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.patience, self.min_delta = patience, min_delta
        self.best, self.best_step, self.bad_steps, self.steps = math.inf, None, 0, 0
        self.best_state = None

    def step(self, val_loss, model=None):
        """Record one evaluation's loss (a nan never improves). Returns True when training
        should stop."""
        self.steps += 1
        if val_loss < self.best - self.min_delta:
            self.best, self.best_step, self.bad_steps = float(val_loss), self.steps, 0
            if model is not None:
                self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_steps += 1
        return self.bad_steps >= self.patience

    def restore(self, model):
        """Load the weights saved at the best evaluation into model. Returns model."""
        if self.best_state is None:
            raise ValueError("no weights were saved: pass the model to step(val_loss, model)")
        model.load_state_dict(self.best_state)
        return model
