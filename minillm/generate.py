"""Generation: turn next-token logits into text, one token at a time.

A language model gives, at every step, logits over the vocabulary for the next token. Decoding
picks one (the most likely: greedy; or a sample, reshaped by temperature, top-k and top-p),
appends it and asks again. With a KV cache (`minillm.attention.KVCache`) each step feeds only the
new token; without, the whole sequence is run again. Both give the same tokens.
The parts any generator needs (`check_prompt`, `eval_mode`, `model_device`, `sample_next`) are
public: `minillm.constrained` builds its constrained decoding from them.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from minillm.attention import KVCache
from minillm.functional import softmax
from minillm.transformer import DecoderLM

# Below this temperature, next_token_probs checks that logits / temperature did not overflow.
TINY_TEMPERATURE = 1e-6


def next_token_probs(logits, temperature=1.0, top_k=None, top_p=None):
    """The distribution sampling draws from: (..., vocab) logits -> (..., vocab) probabilities.

    1. temperature T: softmax(logits / T); T < 1 sharpens, T > 1 flattens, and T = 0 (the
       limit) puts all the probability on the most likely token.
    2. top_k: keep the k most likely tokens (all of them if k >= vocab).
    3. top_p (nucleus): keep the most likely tokens until their probability reaches p (the
       token that crosses p is kept; the most likely token always is).
    The kept probabilities are renormalised to sum to 1; the others are exactly 0.
    """
    _check_sampling(temperature, top_k, top_p)
    if temperature == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    scaled = logits / temperature
    # Only a tiny T can overflow (finite logits / 1e-45 = inf): then there is no sync per token
    # for ordinary temperatures.
    if temperature < TINY_TEMPERATURE and not torch.isfinite(scaled).all():
        raise ValueError(f"temperature {temperature} is so small that logits / temperature "
                         "overflows; use temperature=0 (greedy), the limit it approaches")
    probs = softmax(scaled, axis=-1)
    if top_k is not None:
        probs = probs * _top_k(probs, top_k)
    if top_p is not None:
        probs = probs * _nucleus(probs, top_p)
    return probs / probs.sum(dim=-1, keepdim=True)


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """One token id per row: (batch, vocab) logits -> (batch,) LongTensor.

    temperature=0 is greedy decoding (the limit T -> 0 of softmax(logits / T)): the argmax, and
    top_k / top_p change nothing. Otherwise a draw from next_token_probs(...) using generator
    (a torch.Generator, for repeatable samples).
    """
    _check_sampling(temperature, top_k, top_p)
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = next_token_probs(logits, temperature, top_k, top_p)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


@torch.no_grad()
def generate(model, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
             greedy=False, stop_id=None, use_cache=True, generator=None, is_token=None):
    """Continue each prompt by up to max_new_tokens tokens.

    model: a DecoderLM. prompt_ids: (batch, prompt_len) ints, at least one token per row.
    Prompts of different lengths: pad them on the left (`minillm.data.pad_batch(prompts, pad_id,
    side="left")`) and pass its is_token, (batch, prompt_len) bool, False = padding; padding is
    then hidden from every query. This needs rotary positions (cfg.positional == "rope"), where
    attention sees only how far apart two tokens are, so a row's padding does not move its
    tokens' positions as far as the model can tell. greedy=True (or temperature=0) takes the argmax;
    otherwise each token is sample_next(logits, temperature, top_k, top_p, generator).
    stop_id: a row that emits it is finished and keeps emitting stop_id; generation ends early
    once every row has. use_cache: feed one token per step through a KVCache (same tokens, less
    work). The model runs in eval mode (no dropout) and is put back in its own mode afterwards.
    Returns (batch, prompt_len + n) LongTensor: the prompts and the n <= max_new_tokens new tokens.
    Raises ValueError if prompt_len + max_new_tokens exceeds the model's max_seq_len.
    """
    ids = check_prompt(prompt_ids, max_new_tokens, model.cfg.max_seq_len, model_device(model))
    _check_sampling(temperature, top_k, top_p)
    if is_token is not None:
        is_token = _check_left_padding(is_token, ids, model.cfg)
    cache = KVCache(model.cfg.n_layers) if use_cache else None

    # A DecoderLM can skip the output head for every position but the last (other models that
    # stand in for one need not know the option).
    last = {"only_last": True} if isinstance(model, DecoderLM) else {}

    def next_logits(ids, n_new):
        if is_token is not None:   # every key's flag, the cached ones included: new tokens are real
            new = ids.shape[1] - is_token.shape[1]
            last["is_token"] = F.pad(is_token, (0, new), value=True)
        logits, _ = model(ids[:, -n_new:] if use_cache else ids, cache=cache, **last)
        return logits[:, -1]

    def pick(logits):
        return sample_next(logits, 0.0 if greedy else temperature, top_k, top_p, generator)

    with eval_mode(model):
        return decode_loop(next_logits, pick, ids, max_new_tokens, stop_id)


@torch.no_grad()
def generate_seq2seq(model, src_ids, max_new_tokens, bos_id, eos_id=None, src_is_token=None,
                     temperature=1.0, top_k=None, top_p=None, greedy=False, use_cache=True,
                     generator=None):
    """Write a target for each source with an EncoderDecoder, starting from bos_id.

    src_ids: (batch, src_seq) ints; src_is_token: optional (batch, src_seq) bool, False = padding.
    The encoder runs once; the decoder's masked self-attention is cached when use_cache (the
    cross-attention's keys and values are projected from the memory again at every step: they
    never change, so caching them too would only save time). eos_id plays generate's stop_id;
    the sampling arguments are generate's.
    Returns (batch, 1 + n) LongTensor: bos_id, then the n <= max_new_tokens generated tokens.
    """
    device = model_device(model)
    src_ids = torch.as_tensor(src_ids, device=device)
    start = torch.full((src_ids.shape[0], 1), bos_id, dtype=torch.long, device=device)
    ids = check_prompt(start, max_new_tokens, model.cfg.max_seq_len, device)
    _check_sampling(temperature, top_k, top_p)
    cache = KVCache(model.cfg.n_layers) if use_cache else None

    def next_logits(ids, n_new):
        logits, _, _ = model.decode(ids[:, -n_new:] if use_cache else ids, memory, src_is_token,
                                    cache=cache)
        return logits[:, -1]

    def pick(logits):
        return sample_next(logits, 0.0 if greedy else temperature, top_k, top_p, generator)

    with eval_mode(model):
        memory, _ = model.encode(src_ids, src_is_token)
        return decode_loop(next_logits, pick, ids, max_new_tokens, eos_id)


def decode_loop(next_logits, pick, ids, max_new_tokens, stop_id):
    """The token-by-token loop generate and generate_seq2seq share. ids: (batch, seq) so far.
    next_logits(ids, n_new) -> (batch, vocab) logits of the last position, where the last n_new
    tokens of ids are new since the previous call; pick(logits) -> (batch,) the next tokens.
    A row that emits stop_id (None: no stop token) keeps emitting it, and the loop ends once
    every row has.
    Returns (batch, seq + n) ids, n <= max_new_tokens."""
    finished = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    n_new = ids.shape[1]                     # the first step reads the whole prompt
    for _ in range(max_new_tokens):
        token = pick(next_logits(ids, n_new))
        if stop_id is not None:
            token = token.masked_fill(finished, stop_id)
            finished |= token == stop_id
        ids = torch.cat([ids, token[:, None]], dim=1)
        n_new = 1
        if finished.all():
            break
    return ids


def _top_k(probs, k):
    """bool mask of the k most likely tokens (exactly k, ties broken by topk)."""
    kept = probs.topk(min(k, probs.shape[-1]), dim=-1).indices
    return torch.zeros_like(probs, dtype=torch.bool).scatter(-1, kept, True)


def _nucleus(probs, top_p):
    """bool mask of the smallest set of most likely tokens whose probability reaches top_p."""
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs     # probability of the tokens ahead
    keep_sorted = before < top_p
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


@contextmanager
def eval_mode(model):
    """Run the model in eval mode (dropout off), then give it back its own mode."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def model_device(model):
    """The device the model's parameters live on: where its inputs must go."""
    return next(model.parameters()).device


def check_prompt(prompt_ids, max_new_tokens, max_seq_len, device):
    """prompt_ids as a (batch, prompt_len) LongTensor on device, once it is known to fit."""
    ids = torch.as_tensor(prompt_ids, device=device)
    if ids.ndim != 2:
        raise ValueError(f"prompt_ids must be (batch, prompt_len), got shape {tuple(ids.shape)}: "
                         "for one prompt use ids[None]")
    if ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError("generation needs a prompt of at least one token per row "
                         "(a start-of-text id, for instance)")
    if ids.is_floating_point() or ids.dtype == torch.bool:
        raise ValueError(f"prompt_ids must be integer token ids, got dtype {ids.dtype}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if ids.shape[1] + max_new_tokens > max_seq_len:
        raise ValueError(f"a prompt of {ids.shape[1]} tokens + {max_new_tokens} new tokens = "
                         f"{ids.shape[1] + max_new_tokens} is longer than the model's "
                         f"max_seq_len={max_seq_len}")
    return ids.long()


def _check_left_padding(is_token, ids, cfg):
    """is_token as a bool tensor on ids' device, once it is known to flag ids: (batch, prompt_len)
    padded on the left only, for a model with rotary positions."""
    is_token = torch.as_tensor(is_token, dtype=torch.bool, device=ids.device)
    if tuple(is_token.shape) != tuple(ids.shape):
        raise ValueError(f"is_token of shape {tuple(is_token.shape)} does not match prompt_ids of "
                         f"shape {tuple(ids.shape)}: one flag per token (False = padding)")
    if cfg.positional != "rope":
        raise ValueError(f'prompts with padding need rotary positions (positional="rope"), this '
                         f'model has positional="{cfg.positional}": padding would shift the '
                         "positions of a row's tokens; generate from prompts of equal length")
    if not is_token[:, -1].all() or (is_token[:, 1:] < is_token[:, :-1]).any():
        raise ValueError("pad prompts on the left (pad_batch(..., side=\"left\")): every row's "
                         "padding must come before its tokens and its last position be a token")
    return is_token


def _check_sampling(temperature, top_k, top_p):
    if not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got "
                         f"{temperature}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1 (or None for no limit), got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must lie in (0, 1] (or None for no limit), got {top_p}")


def generate_in_windows(model, prompt_ids, max_new_tokens, **options):
    """generate() for any length: while prompt + new tokens fit in the model's max_seq_len it is
    one call; past that, each call continues from the last max_seq_len // 2 tokens (the model has
    no positions beyond its context). options: generate's sampling arguments. Cached and
    uncached generation cut the text at the same places, so they still give the same tokens.
    prompt_ids: (batch, prompt_len) -> (batch, prompt_len + max_new_tokens) LongTensor."""
    window = model.cfg.max_seq_len
    if window < 2 and max_new_tokens > 0:
        raise ValueError("this model's context is a single token: it has no room for a prompt "
                         "and a new token, so it cannot generate")
    ids, remaining = prompt_ids, max_new_tokens
    while remaining > 0:
        fits = ids.shape[1] + remaining <= window
        context = ids if fits else ids[:, -max(1, window // 2):]
        n = min(remaining, window - context.shape[1])
        new = generate(model, context, n, **options)[:, context.shape[1]:]
        ids, remaining = torch.cat([ids, new], dim=1), remaining - n
    return ids
