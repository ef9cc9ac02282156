"""Prompt tuning: trainable "virtual tokens" placed before the input of a frozen model (Lester et
al., 2021): `SoftPrompt`."""
from __future__ import annotations

import torch
from torch import nn

from minillm.finetune.freezing import freeze
from minillm.finetune.heads import (
    _check_body,
    run_layers,
)
from minillm.transformer import DecoderLM, lm_logits


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
