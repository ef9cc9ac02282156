"""Controlled generation: steer what a language model may write.

- logit bias: add a number to chosen tokens' logits (a negative infinity bans them):
  `logit_bias`
- constrained decoding: at every step, allow only the tokens that keep the text a valid prefix
  of what a rule accepts (a grammar, a regular expression, "a Python identifier"), and mask the
  rest: `allowed_tokens`, `constrained_generate`.

With the mask, every output obeys the rule (when the model stops early or the step budget ends,
it is still a valid prefix); without it, only as often as the model happens to.
"""
from __future__ import annotations

import torch

from minillm.generate import check_prompt, eval_mode, model_device, sample_next


def logit_bias(logits, bias):
    """logits: (..., vocab); bias: {token id: number added to its logit}, -inf bans a token.
    Returns new logits (the input is not changed)."""
    vocab = logits.shape[-1]
    out = logits.clone()
    for token, value in bias.items():
        if not 0 <= token < vocab:
            raise ValueError(f"token id {token} is outside the vocabulary of {vocab} tokens")
        out[..., token] += value
    return out


def allowed_tokens(token_texts, text_so_far, is_valid_prefix):
    """(vocab,) bool: True for the tokens whose text, appended to text_so_far, still passes
    is_valid_prefix(text) -> bool. token_texts: one string per token id."""
    return torch.tensor([is_valid_prefix(text_so_far + t) for t in token_texts])


@torch.no_grad()
def constrained_generate(model, prompt_ids, max_new_tokens, token_texts, is_valid_prefix,
                         temperature=0.0, generator=None):
    """Continue one prompt with a DecoderLM, sampling (temperature > 0) or greedily
    (temperature = 0) among the tokens `allowed_tokens` permits at each step.

    prompt_ids: (1, prompt_len); token_texts: the text of each token id (vocab strings).
    Stops early when no token is allowed. Returns (1, prompt_len + n) ids.
    """
    ids = check_prompt(prompt_ids, max_new_tokens, model.cfg.max_seq_len, model_device(model))
    if ids.shape[0] != 1:
        raise ValueError(f"constrained_generate takes one prompt, (1, prompt_len); got "
                         f"{ids.shape[0]} rows")
    if len(token_texts) != model.cfg.vocab_size:
        raise ValueError(f"token_texts has {len(token_texts)} strings for a vocabulary of "
                         f"{model.cfg.vocab_size}")
    text = ""                                # what the model has written so far
    with eval_mode(model):
        for _ in range(max_new_tokens):
            allowed = allowed_tokens(token_texts, text, is_valid_prefix).to(ids.device)
            if not allowed.any():            # no token keeps the text valid: stop here
                break
            logits, _ = model(ids)           # (1, seq, vocab)
            masked = logits[:, -1].masked_fill(~allowed, float("-inf"))
            token = sample_next(masked, temperature, generator=generator)    # (1,)
            ids = torch.cat([ids, token[:, None]], dim=1)
            text += token_texts[token.item()]
    return ids
