"""benchmarks/run.py still runs and writes its table (--quick: a tiny model, a few steps).

Speed is not asserted: it depends on the machine and on what else runs on it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
                "| minillm / HF fused GELU |",
                # the SmolLM2 rows, run on a tiny random grouped-query Llama in --quick
                "tiny random grouped-query Llama", "| load: the file into a float32 model",
                "| prompt processing: one forward over 24 tokens", "| greedy generation: 16 new",
                "| memory added by generation |", "| 2 (the model as trained: grouped-query",
                "| 4 (a same-size model, one per query head"):
        assert row in table, f"{row!r} is missing from the table"
    # The twins really are twins: the same weights and batches give the same loss and tokens.
    assert "cached = uncached at 32/32 positions, minillm = HF at 32/32" in table
    assert "the greedy tokens at 16/16 positions" in table
    assert "Grouped-query attention keeps 2.0× less in the cache" in table
