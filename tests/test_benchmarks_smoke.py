"""benchmarks/run.py still runs and writes its table (--quick: a tiny model, a few steps).

Speed is not asserted: it depends on the machine and on what else runs on it."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from minillm.config import TransformerConfig
from minillm.transformer import DecoderLM

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from plain_gpt import from_minillm  # noqa: E402  (benchmarks/ is not a package)


def test_quick_benchmark_writes_the_table_with_every_row(tmp_path):
    out = tmp_path / "results.md"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--threads", "1",
         "--out", str(out)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    table = out.read_text(encoding="utf-8")
    assert table in done.stdout
    for row in ("- CPU: ", "torch threads: 1", "| tiny: d=64, 2 layers",
                "| minillm `generate`, KV cache |", "| minillm `generate`, no cache |",
                "| HF `generate` (its KV cache) |", "Peak RSS of the whole benchmark process",
                "| minillm / HF fused GELU |", "| minillm / plain |",
                # the SmolLM2 rows, run on a tiny random grouped-query Llama in --quick
                "tiny random grouped-query Llama", "| load: the file into a float32 model",
                "| prompt processing: one forward over 24 tokens", "| greedy generation: 16 new",
                "| memory added by generation |", "| 2 (the model as trained: grouped-query",
                "| 4 (a same-size model, one per query head"):
        assert row in table, f"{row!r} is missing from the table"
    # The twins really are twins: the same weights and batches give the same loss and tokens.
    assert "cached = uncached at 32/32 positions, minillm = HF at 32/32" in table
    losses = re.search(r"tiny: minillm ([\d.]+), plain ([\d.]+), HF ([\d.]+)", table)
    assert losses and len(set(losses.groups())) == 1, losses
    assert "the greedy tokens at 16/16 positions" in table
    assert "Grouped-query attention keeps 2.0× less in the cache" in table


@pytest.mark.parametrize("seq", [1, 7, 64])
def test_the_plain_reference_gives_minillms_logits_and_gradients_bit_for_bit(seq):
    """The plain GPT is a fair yardstick: with minillm's weights, the same numbers, so
    minillm / plain in the table is overhead only."""
    torch.manual_seed(0)
    ours = DecoderLM(TransformerConfig.gpt2_like(vocab_size=103, d_model=128, n_heads=4,
                                                 n_layers=4, d_ff=512, max_seq_len=64))
    plain = from_minillm(ours)
    ids = torch.randint(103, (3, seq))
    logits, _ = ours(ids)
    assert torch.equal(logits, plain(ids))
    F.cross_entropy(logits.flatten(0, 1), ids.flatten()).backward()
    F.cross_entropy(plain(ids).flatten(0, 1), ids.flatten()).backward()
    assert torch.equal(ours.tok_emb.weight.grad, plain.tok_emb.weight.grad)
    assert torch.equal(ours.layers[0].self_attn.q_proj.weight.grad, plain.blocks[0].q.weight.grad)


def test_the_plain_reference_refuses_a_model_of_another_recipe():
    with pytest.raises(ValueError, match="GPT-2's recipe with a tied head"):
        from_minillm(DecoderLM(TransformerConfig.llama_like(vocab_size=50)))
