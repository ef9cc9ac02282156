"""Speed work must not move a single bit: every chapter's stored outputs depend on the core.

The cases below (GPT-2-like and Llama-like models, with and without padding, with a KV cache,
an encoder-decoder, dropout) were run once with the code as it was before the overhead was
removed (issue 14, "No overhead on small models"), and the SHA-256 of every output's and
gradient's bytes saved in tests/fixtures/numerics_unchanged.json. The test runs them again and
asks for the same digests: the same bits (dtype and shape included), not merely close ones.

Bits depend on the kernels: the file records the torch version and the CPU capability it was
written with, and the test runs with one thread (a reduction split across threads may add in
another order). On another torch or CPU it is skipped, saying why. To write the file again
(a torch upgrade), check out a commit whose numerics are trusted and run

    python tests/test_numerics_unchanged.py
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from minillm.attention import KVCache
from minillm.config import TransformerConfig
from minillm.transformer import DecoderLM, EncoderDecoder

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "numerics_unchanged.json"
BATCH, SEQ, VOCAB = 3, 12, 50

CONFIGS = {
    "gpt2": TransformerConfig.gpt2_like(vocab_size=VOCAB, d_model=32, n_heads=4, n_layers=2,
                                        d_ff=128, max_seq_len=32),
    "llama_gqa": TransformerConfig.llama_like(vocab_size=VOCAB, d_model=32, n_heads=4,
                                              n_kv_heads=2, n_layers=2, d_ff=88,
                                              max_seq_len=32),
    "gpt2_dropout": TransformerConfig.gpt2_like(vocab_size=VOCAB, d_model=32, n_heads=4,
                                                n_layers=2, d_ff=128, max_seq_len=32,
                                                dropout=0.1),
}


def _ids(seed):
    return torch.randint(VOCAB, (BATCH, SEQ), generator=torch.Generator().manual_seed(seed))


def _is_token():
    """Left padding: row 0 has none, row 1 three pad positions, row 2 seven."""
    flags = torch.ones(BATCH, SEQ, dtype=torch.bool)
    flags[1, :3] = False
    flags[2, :7] = False
    return flags


def _model(name, cls=DecoderLM):
    torch.manual_seed(0)
    return cls(CONFIGS[name])


def _train_step_outputs(model, ids, is_token=None, prefix=""):
    """Logits and every parameter's gradient of one cross-entropy loss, in train mode."""
    model.train()
    torch.manual_seed(1)                        # the dropout case draws its masks from here
    logits, _ = model(ids, is_token)
    targets = torch.roll(ids, -1, dims=1)
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    model.zero_grad(set_to_none=True)
    loss.backward()
    out = {f"{prefix}logits": logits.detach()}
    for name, p in model.named_parameters():
        out[f"{prefix}grad.{name}"] = p.grad.detach().clone()
    return out


def _cached_outputs(model, ids, is_token=None, prefix=""):
    """Eval mode, KV cache: a 5-token prompt, then a 3-token chunk (queries after cached keys:
    neither plain causal nor all visible), then one token at a time."""
    model.eval()
    cache = KVCache(model.cfg.n_layers)
    out = {}
    steps = [(0, 5), (5, 8)] + [(t, t + 1) for t in range(8, SEQ)]
    with torch.no_grad():
        for start, stop in steps:
            flags = None if is_token is None else is_token[:, :stop]
            logits, _ = model(ids[:, start:stop], flags, cache=cache)
            out[f"{prefix}cached.{start}"] = logits
        full, _ = model(ids, is_token)
        out[f"{prefix}uncached"] = full
        last, _ = model(ids, is_token, only_last=True)
        out[f"{prefix}only_last"] = last
    return out


def _weights_outputs(model, ids, is_token=None, prefix=""):
    """need_weights=True: the explicit formula's logits and attention weights."""
    model.eval()
    with torch.no_grad():
        logits, attentions = model(ids, is_token, need_weights=True)
    out = {f"{prefix}logits_explicit": logits}
    for i, w in enumerate(attentions):
        out[f"{prefix}weights.{i}"] = w
    return out


def _encoder_decoder_outputs():
    torch.manual_seed(0)
    model = EncoderDecoder(CONFIGS["gpt2"].replace(activation="gelu")).train()
    src, tgt, flags = _ids(5), _ids(6), _is_token()
    logits, _ = model(src, tgt, flags, flags)
    logits.square().mean().backward()
    out = {"logits": logits.detach()}
    for name, p in model.named_parameters():
        out[f"grad.{name}"] = p.grad.detach().clone()
    return out


def compute_all():
    """{case: {name: tensor}} for every case, with one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cases = {}
        for name in ("gpt2", "llama_gqa"):
            ids, flags = _ids(2), _is_token()
            cases[f"{name}.train"] = _train_step_outputs(_model(name), ids)
            cases[f"{name}.train_padded"] = _train_step_outputs(_model(name), ids, flags)
            cases[f"{name}.cache"] = _cached_outputs(_model(name), ids)
            cases[f"{name}.cache_padded"] = _cached_outputs(_model(name), ids, flags)
            cases[f"{name}.weights"] = _weights_outputs(_model(name), ids, flags)
        cases["gpt2_dropout.train"] = _train_step_outputs(_model("gpt2_dropout"), _ids(3))
        cases["encoder_decoder.train_padded"] = _encoder_decoder_outputs()
        return cases
    finally:
        torch.set_num_threads(threads)


def _kernels():
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def digest(t):
    """'dtype shape sha256' of t's bytes: two tensors have the same digest exactly when they
    hold the same bits, and a digest is short enough to keep in a text file."""
    data = t.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
    return f"{t.dtype} {tuple(t.shape)} {hashlib.sha256(data).hexdigest()}"


def digests():
    return {f"{case}/{name}": digest(t)
            for case, tensors in compute_all().items() for name, t in tensors.items()}


def write_fixture():
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    saved = {**_kernels(), "digests": digests()}
    FIXTURE.write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(saved['digests'])} digests to {FIXTURE}")


@pytest.fixture(scope="module")
def saved_and_now():
    saved = json.loads(FIXTURE.read_text(encoding="utf-8"))
    kernels = {key: saved[key] for key in _kernels()}
    if kernels != _kernels():
        pytest.skip(f"the saved bits come from {kernels}; this is {_kernels()}: other kernels "
                    "give other last bits (see this file's docstring to write them again)")
    return saved["digests"], digests()


CASES = ["gpt2.train", "gpt2.train_padded", "gpt2.cache", "gpt2.cache_padded", "gpt2.weights",
         "llama_gqa.train", "llama_gqa.train_padded", "llama_gqa.cache", "llama_gqa.cache_padded",
         "llama_gqa.weights", "gpt2_dropout.train", "encoder_decoder.train_padded"]


@pytest.mark.parametrize("case", CASES)
def test_outputs_and_gradients_are_bit_identical_to_the_saved_ones(saved_and_now, case):
    saved, now = saved_and_now
    keys = sorted(k for k in saved if k.startswith(case + "/"))
    assert keys and keys == sorted(k for k in now if k.startswith(case + "/"))
    differ = [k for k in keys if saved[k] != now[k]]
    assert not differ, f"not bit-identical to the code before the change: {differ}"


if __name__ == "__main__":
    write_fixture()
