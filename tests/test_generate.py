"""Generation: a KV cache changes the work, never the tokens (greedy or sampled, GPT-2- and
Llama-style, NumPy and torch); temperature, top-k and top-p shape the distribution as documented;
a stop id finishes its row; bad arguments fail with a ValueError that says what to change."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _helpers import assert_close, randomized, rng, to_np_params
from torch import nn

import minillm.np as mnp
from minillm import TransformerConfig
from minillm.attention import KVCache, MultiHeadAttention
from minillm.data import pad_batch
from minillm.generate import generate, next_token_probs, sample_next
from minillm.np.attention import KVCache as NumpyKVCache
from minillm.transformer import DecoderLM

SMALL = dict(vocab_size=40, d_model=16, n_heads=4, n_layers=2, d_ff=24, max_seq_len=24)
CONFIGS = {
    "gpt2_like": TransformerConfig.gpt2_like(**SMALL),
    "llama_like": TransformerConfig.llama_like(**SMALL),
    "llama_gqa": TransformerConfig.llama_like(**SMALL, n_kv_heads=2),   # 2 query heads per k/v
    "post_ln_sinusoidal": TransformerConfig(**SMALL, norm_first=False, positional="sinusoidal"),
}
CHUNKS = (5, 1, 1, 4)        # a prompt, two single tokens, then several at once
SAMPLING = {
    "greedy": dict(greedy=True),
    "sampled": dict(temperature=1.0),
    "sampled_top_k_top_p": dict(temperature=0.8, top_k=10, top_p=0.9),
}


def _model(name, seed=0):
    torch.manual_seed(seed)
    return randomized(DecoderLM(CONFIGS[name]), seed=seed).eval()


def _ids(batch, seq, seed=0):
    return torch.tensor(rng(seed).integers(0, SMALL["vocab_size"], size=(batch, seq)))


def _chunks(ids):
    starts = np.cumsum((0,) + CHUNKS)
    return [ids[:, a:b] for a, b in zip(starts[:-1], starts[1:])]


# ---- the cache in one forward pass -----------------------------------------------------------

@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("name", CONFIGS)
def test_feeding_chunks_through_a_cache_equals_one_full_forward(name, need_weights):
    model = _model(name)
    ids = _ids(2, sum(CHUNKS))
    full_logits, full_attentions = model(ids, need_weights=True)
    cache = KVCache(model.cfg.n_layers)
    logits, seen = [], 0
    for chunk in _chunks(ids):
        chunk_logits, attentions = model(chunk, need_weights=need_weights, cache=cache)
        logits.append(chunk_logits)
        if need_weights:      # new queries over every key so far: rows of the full weights
            new = slice(seen, seen + chunk.shape[1])
            for layer, weights in enumerate(attentions):
                assert_close(weights, full_attentions[layer][:, :, new, :new.stop], atol=1e-12)
        seen += chunk.shape[1]
    assert cache.seq_len() == ids.shape[1]
    # only the key/value heads are cached (n_kv_heads of them under grouped-query attention)
    assert cache.keys[1].shape == (2, model.cfg.kv_heads, ids.shape[1], model.cfg.d_head)
    assert cache.values[1].shape == cache.keys[1].shape
    assert_close(torch.cat(logits, dim=1), full_logits, atol=1e-12)


@pytest.mark.parametrize("name", CONFIGS)
def test_numpy_cache_equals_numpy_full_forward_and_the_torch_twin(name):
    model = _model(name)
    params, cfg = to_np_params(model), model.cfg
    ids = _ids(2, sum(CHUNKS)).numpy()
    full, _ = mnp.decoder_lm(params, ids, cfg)
    cache = NumpyKVCache(cfg.n_layers)
    cached = np.concatenate([mnp.decoder_lm(params, chunk, cfg, cache=cache)[0]
                             for chunk in _chunks(ids)], axis=1)
    assert_close(cached, full, atol=1e-12)
    torch_cache = KVCache(cfg.n_layers)
    twin = torch.cat([model(torch.tensor(chunk), cache=torch_cache)[0]
                      for chunk in _chunks(ids)], dim=1)
    assert_close(cached, twin, atol=1e-12)


def test_a_cache_never_lets_the_sequence_outgrow_max_seq_len():
    model = _model("gpt2_like")
    cache = KVCache(model.cfg.n_layers)
    model(_ids(1, SMALL["max_seq_len"]), cache=cache)
    with pytest.raises(ValueError, match=r"length 25 .*max_seq_len=24"):
        model(_ids(1, 1), cache=cache)
    np_cache = NumpyKVCache(model.cfg.n_layers)
    params = to_np_params(model)
    mnp.decoder_lm(params, _ids(1, 20).numpy(), model.cfg, cache=np_cache)
    with pytest.raises(ValueError, match=r"length 25 .*max_seq_len=24"):
        mnp.decoder_lm(params, _ids(1, 5).numpy(), model.cfg, cache=np_cache)


def test_padding_flags_with_a_filled_cache_must_flag_the_cached_tokens_too():
    model = _model("gpt2_like")
    cache = KVCache(model.cfg.n_layers)
    model(_ids(1, 3), cache=cache)
    with pytest.raises(ValueError, match=r"after 3 cached tokens: expected \(1, 4\)"):
        model(_ids(1, 1), torch.ones(1, 1, dtype=torch.bool), cache=cache)
    np_cache = NumpyKVCache(model.cfg.n_layers)
    params = to_np_params(model)
    mnp.decoder_lm(params, _ids(1, 3).numpy(), model.cfg, cache=np_cache)
    with pytest.raises(ValueError, match=r"after 3 cached tokens: expected \(1, 4\)"):
        mnp.decoder_lm(params, _ids(1, 1).numpy(), model.cfg, np.ones((1, 1), bool), np_cache)


LENGTHS = (3, 7, 5)          # prompts of different lengths, padded on the left


def _left_padded():
    prompts = [_ids(1, n, seed=n)[0].tolist() for n in LENGTHS]
    ids, is_token = pad_batch(prompts, 0, side="left")
    return prompts, ids, is_token


@pytest.mark.parametrize("name", ["llama_like", "llama_gqa"])
def test_left_padded_prompts_give_each_row_its_own_logits(name):
    """Rotary positions: a row's padding on the left hides from attention and shifts every
    position of the row by the same amount, which attention cannot see."""
    model = _model(name).double()
    prompts, ids, is_token = _left_padded()
    cache = KVCache(model.cfg.n_layers)
    with torch.no_grad():
        batched, _ = model(ids, is_token, cache=cache)
        step = torch.tensor([[1], [2], [3]])
        batched_next, _ = model(step, F.pad(is_token, (0, 1), value=True), cache=cache)
        for row, prompt in enumerate(prompts):
            alone, _ = model(torch.tensor([prompt + [row + 1]]))
            assert_close(batched[row, -len(prompt):], alone[0, :-1], atol=1e-10)
            assert_close(batched_next[row, 0], alone[0, -1], atol=1e-10)


def test_the_numpy_twin_reads_left_padded_prompts_through_its_cache_as_the_module_does():
    model = _model("llama_gqa").double()
    params, (_, ids, is_token) = to_np_params(model), _left_padded()
    cache, np_cache = KVCache(model.cfg.n_layers), NumpyKVCache(model.cfg.n_layers)
    for chunk in (ids, torch.tensor([[1], [2], [3]]), torch.tensor([[4, 5]] * 3)):
        # every key's flag: the prompt's, then True for each token after it
        flags = F.pad(is_token, (0, cache.seq_len() + chunk.shape[1] - ids.shape[1]), value=True)
        with torch.no_grad():
            ours, _ = model(chunk, flags, cache=cache)
        theirs, _ = mnp.decoder_lm(params, chunk.numpy(), model.cfg, flags.numpy(), np_cache)
        assert_close(ours, theirs, atol=1e-10)


@pytest.mark.parametrize("use_cache", [True, False])
def test_generate_from_left_padded_prompts_equals_each_prompt_alone(use_cache):
    model = _model("llama_gqa").double()
    prompts, ids, is_token = _left_padded()
    out = generate(model, ids, 8, greedy=True, is_token=is_token, use_cache=use_cache)
    for row, prompt in enumerate(prompts):
        alone = generate(model, torch.tensor([prompt]), 8, greedy=True)
        assert out[row, ids.shape[1]:].tolist() == alone[0, len(prompt):].tolist()


def test_generate_refuses_padding_it_cannot_honour():
    _, ids, is_token = _left_padded()
    with pytest.raises(ValueError, match='rotary positions.*positional="learned"'):
        generate(_model("gpt2_like"), ids, 2, is_token=is_token)
    right = pad_batch([[1, 2], [3]], 0, side="right")
    with pytest.raises(ValueError, match="pad prompts on the left"):
        generate(_model("llama_like"), right[0], 2, is_token=right[1])
    with pytest.raises(ValueError, match=r"is_token of shape \(3, 2\) does not match"):
        generate(_model("llama_like"), ids, 2, is_token=is_token[:, :2])


def test_cross_attention_refuses_a_cache():
    attention = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match="cross-attention"):
        attention(torch.zeros(1, 2, 8), torch.zeros(1, 3, 8), cache=KVCache(1))


# ---- generate ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("mode", SAMPLING)
@pytest.mark.parametrize("name", ["gpt2_like", "llama_like", "llama_gqa"])
def test_cached_generation_is_token_for_token_identical_to_uncached(name, mode, dtype):
    model = _model(name).to(dtype)
    prompt = _ids(3, 4)
    runs = [generate(model, prompt, 16, use_cache=use_cache,
                     generator=torch.Generator().manual_seed(7), **SAMPLING[mode])
            for use_cache in (True, False)]
    assert runs[0].shape == (3, 4 + 16)
    assert torch.equal(runs[0][:, :4], prompt)
    assert torch.equal(runs[0], runs[1])


def test_sampled_generation_repeats_with_the_same_seed_and_varies_with_another():
    model = _model("gpt2_like")
    prompt = _ids(2, 3)
    a, b, c = (generate(model, prompt, 12, generator=torch.Generator().manual_seed(seed))
               for seed in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("sampling", [dict(top_k=1), dict(top_p=1e-6), dict(temperature=0.0)])
def test_top_k_one_tiny_top_p_and_temperature_zero_are_greedy(sampling):
    model = _model("llama_like")
    prompt = _ids(3, 2)
    greedy = generate(model, prompt, 12, greedy=True)
    assert torch.equal(generate(model, prompt, 12, generator=torch.Generator().manual_seed(3),
                                **sampling), greedy)


def test_greedy_takes_the_argmax_of_the_full_forward_at_every_step():
    model = _model("gpt2_like")
    out = generate(model, _ids(2, 3), 6, greedy=True)
    logits, _ = model(out[:, :-1])
    assert torch.equal(logits[:, 2:].argmax(-1), out[:, 3:])


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_samples_follow_softmax_of_logits_over_temperature(temperature):
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])
    n = 40_000
    draws = sample_next(logits.expand(n, -1), temperature,
                        generator=torch.Generator().manual_seed(0))
    frequencies = torch.bincount(draws, minlength=5) / n
    expected = torch.softmax(logits / temperature, dim=-1)
    # 4 standard errors of the largest-variance frequency: sqrt(0.25 / n) = 0.0025
    assert (frequencies - expected).abs().max() < 0.01


def test_top_k_keeps_exactly_the_k_most_likely_tokens():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0, -1.0]])
    probs = next_token_probs(logits, top_k=2)
    expected = torch.softmax(torch.tensor([3.0, 2.0]), dim=-1)
    assert_close(probs, torch.tensor([[0.0, expected[0], 0.0, expected[1], 0.0]]), atol=1e-7)
    assert_close(next_token_probs(logits, top_k=50), torch.softmax(logits, -1), atol=1e-7)


@pytest.mark.parametrize("top_p, kept", [(0.4, 1), (0.7, 2), (0.85, 3), (1.0, 4)])
def test_top_p_keeps_the_most_likely_tokens_until_they_reach_p(top_p, kept):
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]], dtype=torch.float64)
    order = [1, 3, 2, 0]                                       # most likely first
    nucleus = next_token_probs(probs.log(), top_p=top_p)
    expected = torch.zeros_like(probs)
    expected[0, order[:kept]] = probs[0, order[:kept]] / probs[0, order[:kept]].sum()
    assert_close(nucleus, expected, atol=1e-12)


def test_temperature_zero_puts_all_probability_on_the_argmax():
    probs = next_token_probs(torch.tensor([[0.1, 2.0, -1.0]]), temperature=0.0)
    assert torch.equal(probs, torch.tensor([[0.0, 1.0, 0.0]]))


class CountingLM(nn.Module):
    """A stand-in language model whose next token is always the last token + 1 (mod vocab)."""

    def __init__(self, vocab_size=10):
        super().__init__()
        self.cfg = TransformerConfig(vocab_size=vocab_size, n_layers=1, max_seq_len=32)
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, ids, is_token=None, need_weights=False, cache=None):
        return 10.0 * nn.functional.one_hot((ids + 1) % self.cfg.vocab_size,
                                            self.cfg.vocab_size).double(), None


def test_stop_id_finishes_each_row_and_generation_ends_once_all_rows_have():
    out = generate(CountingLM(), torch.tensor([[3], [5]]), 10, greedy=True, stop_id=7)
    assert out.tolist() == [[3, 4, 5, 6, 7], [5, 6, 7, 7, 7]]
    never = generate(CountingLM(), torch.tensor([[3]]), 3, greedy=True, stop_id=1)
    assert never.tolist() == [[3, 4, 5, 6]]


def test_generate_uses_eval_mode_and_gives_the_model_back_its_mode():
    torch.manual_seed(0)
    model = DecoderLM(CONFIGS["gpt2_like"].replace(dropout=0.5)).train()
    prompt = _ids(2, 3)
    cached = generate(model, prompt, 8, greedy=True)
    assert model.training
    assert torch.equal(cached, generate(model, prompt, 8, greedy=True, use_cache=False))


def test_zero_new_tokens_returns_the_prompt():
    prompt = _ids(2, 3)
    assert torch.equal(generate(_model("gpt2_like"), prompt, 0), prompt)


BAD = {
    "empty_prompt": (dict(prompt_ids=torch.zeros(1, 0, dtype=torch.long)), "at least one token"),
    "one_dimensional_prompt": (dict(prompt_ids=torch.tensor([1, 2])), r"ids\[None\]"),
    "float_prompt": (dict(prompt_ids=torch.ones(1, 2)), "integer token ids"),
    "prompt_longer_than_the_model": (dict(prompt_ids=torch.ones(1, 25, dtype=torch.long)),
                                     "25 tokens .* max_seq_len=24"),
    "too_many_new_tokens": (dict(max_new_tokens=23),
                            r"2 tokens \+ 23 new tokens = 25 .* max_seq_len=24"),
    "negative_max_new_tokens": (dict(max_new_tokens=-1), "max_new_tokens must be >= 0"),
    "top_k_zero": (dict(top_k=0), "top_k must be at least 1"),
    "top_p_zero": (dict(top_p=0.0), r"top_p must lie in \(0, 1\]"),
    "top_p_above_one": (dict(top_p=1.5), r"top_p must lie in \(0, 1\]"),
    "negative_temperature": (dict(temperature=-0.5), "temperature must be >= 0"),
}


@pytest.mark.parametrize("case", BAD)
def test_generate_rejects_bad_arguments_with_a_clear_message(case):
    changes, message = BAD[case]
    arguments = {"prompt_ids": torch.ones(1, 2, dtype=torch.long), "max_new_tokens": 4, **changes}
    with pytest.raises(ValueError, match=message):
        generate(_model("gpt2_like"), **arguments)
