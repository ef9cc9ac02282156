"""Instruction tuning: the loss on the answer only, never on the instruction the model is given:
`instruction_batch`, `loss_on_response`, `instruction_loss`."""
from __future__ import annotations

import torch

from minillm.data import IGNORE_INDEX, pad_batch
from minillm.functional import cross_entropy


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
