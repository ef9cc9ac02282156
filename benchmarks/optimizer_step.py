"""How long one optimizer step takes: minillm.optim.AdamW against torch.optim.AdamW.

    python benchmarks/optimizer_step.py            # ~33M weights and a chapter-sized model
    python benchmarks/optimizer_step.py --repeats 5 --sizes tiny   # seconds: does it work?

Not part of the test suite: speed depends on the machine and on whatever else runs on it, so
only the ratios printed by one run mean anything. One thread (torch.set_num_threads(1)); the
optimizers take turns step by step (ABC, BCA, CAB, ...) on the same parameters and gradients,
after untimed warm-up steps, and the median step of each is reported, by the clock and by CPU
time (time.process_time, which leaves out time spent waiting for a core on a busy machine).

Two sets of parameters, both in two groups as minillm.train.make_optimizer builds them
(matrices decayed, vectors not):
- "33M": 8 matrices of 2048 x 2048 (33.6M weights) and 8 vectors of 2048, where the arithmetic
  on the weights dominates;
- "tiny": minillm's DecoderLM with the "tiny" preset (2 layers, 64 wide; 96 characters, a
  window of 64), where the per-parameter overhead of a step dominates.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from minillm.config import model_config
from minillm.optim import AdamW
from minillm.transformer import DecoderLM

OPTIMIZERS = {
    "minillm.optim.AdamW": lambda groups: AdamW(groups, lr=1e-3, betas=(0.9, 0.95)),
    "torch AdamW foreach=False": lambda groups: torch.optim.AdamW(groups, lr=1e-3,
                                                                  betas=(0.9, 0.95),
                                                                  foreach=False),
    "torch AdamW (default)": lambda groups: torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.95)),
}


def big_params():
    gen = torch.Generator().manual_seed(0)
    return ([torch.randn(2048, 2048, generator=gen).requires_grad_() for _ in range(8)]
            + [torch.randn(2048, generator=gen).requires_grad_() for _ in range(8)])


def tiny_params():
    torch.manual_seed(0)
    model = DecoderLM(model_config("tiny", vocab_size=96, seq_len=64))
    return list(model.parameters())


SIZES = {"33M": big_params, "tiny": tiny_params}


def groups_of(params):
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": 0.1},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


def measure(params, repeats, warmup=3):
    """{optimizer name: (median wall seconds, median CPU seconds)} of one step."""
    gen = torch.Generator().manual_seed(1)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen)
    optimizers = {name: make(groups_of(params)) for name, make in OPTIMIZERS.items()}
    for optimizer in optimizers.values():
        for _ in range(warmup):
            optimizer.step()
    names = list(optimizers)
    wall, cpu = {name: [] for name in names}, {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            w0, c0 = time.perf_counter(), time.process_time()
            optimizers[name].step()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name]))
            for name in names}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, median of {args.repeats} interleaved steps")
    for size in args.sizes:
        params = SIZES[size]()
        n = sum(p.numel() for p in params)
        results = measure(params, args.repeats)
        ours_wall, ours_cpu = results["minillm.optim.AdamW"]
        print(f"\n{size}: {n:,} weights in {len(params)} tensors")
        print(f"  {'optimizer':28s} {'wall ms':>9s} {'cpu ms':>9s}  minillm / this (wall, cpu)")
        for name, (w, c) in results.items():
            print(f"  {name:28s} {1e3 * w:9.2f} {1e3 * c:9.2f}  {ours_wall / w:5.2f}x "
                  f"{ours_cpu / c:5.2f}x")


if __name__ == "__main__":
    main()
