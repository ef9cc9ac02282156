"""Data-parallel training（数据并行）with PyTorch's DistributedDataParallel (DDP).

Every worker process holds a full copy of the model and reads its own slice of each global batch;
after backward, DDP all-reduces (averages) the gradients, so every copy takes the same optimizer
step: the update of one process that read the whole batch. Run as a script with torchrun,

    python -m torch.distributed.run --nproc_per_node=2 -m minillm.ddp --out run_dir

(gloo backend, CPU, one thread per worker), or from Python with `train_data_parallel`, and compare
with `train_single_process`, which does the same steps in one process on the whole batch.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch.nn.parallel import DistributedDataParallel

from minillm.config import TransformerConfig
from minillm.objectives import causal_lm_loss
from minillm.transformer import DecoderLM

SEED = 0


def tiny_config():
    """The small GPT both runs train: 1 layer, d_model 32, 64 tokens."""
    return TransformerConfig.tiny(vocab_size=64, d_model=32, n_heads=2, n_layers=1, d_ff=64,
                                  max_seq_len=16)


def global_batches(steps, batch_size, seq_len=16, vocab_size=64, seed=SEED):
    """steps batches (x, y) of random ids: x, y (batch_size, seq_len), y = x shifted by one."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(vocab_size, (steps, batch_size, seq_len + 1), generator=generator)
    return [(window[:, :-1], window[:, 1:]) for window in ids]


def _train(model, batches, rank=0, world_size=1, lr=0.5):
    """Plain SGD steps (AdamW would divide tiny float differences by tiny second moments).
    Worker `rank` of world_size reads rows rank, rank + world_size, ... of each global batch.
    Returns the loss of each step on this worker's rows."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for x, y in batches:
        loss = causal_lm_loss(model, (x[rank::world_size], y[rank::world_size]))
        optimizer.zero_grad()
        loss.backward()            # under DDP: the gradients are averaged across workers here
        optimizer.step()
        losses.append(loss.item())
    return losses


def _fresh_model():
    torch.manual_seed(SEED)
    return DecoderLM(tiny_config())


def train_single_process(steps=5, batch_size=8):
    """The reference: one process, the whole global batch each step. Returns the state_dict."""
    model = _fresh_model()
    _train(model, global_batches(steps, batch_size))
    return model.state_dict()


def worker(out, steps, batch_size):
    """One torchrun worker: join the gloo group, train its shard under DDP; rank 0 saves the
    weights (model.safetensors) and run facts (run.json) in out."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    if batch_size % world_size:
        raise ValueError(f"batch_size={batch_size} must split evenly over {world_size} workers")
    model = DistributedDataParallel(_fresh_model())
    losses = _train(model, global_batches(steps, batch_size), rank, world_size)
    if rank == 0:
        Path(out).mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in model.module.state_dict().items()}
        save_file(state, str(Path(out) / "model.safetensors"))
        facts = {"world_size": world_size, "threads": torch.get_num_threads(),
                 "backend": dist.get_backend(), "losses_rank0": losses}
        (Path(out) / "run.json").write_text(json.dumps(facts))
    dist.destroy_process_group()


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_data_parallel(out, nproc=2, steps=5, batch_size=8, timeout=300):
    """Launch `torchrun --nproc_per_node=nproc -m minillm.ddp` (this Python, 127.0.0.1, a free
    port, one thread per worker) and wait. Returns (state_dict of the trained weights, run facts
    dict); raises RuntimeError with the workers' output if the run fails."""
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
               "--nnodes=1", "--master_addr=127.0.0.1", f"--master_port={free_port()}",
               "-m", "minillm.ddp", "--out", str(out), "--steps", str(steps),
               "--batch-size", str(batch_size)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode:
        raise RuntimeError(f"torchrun failed ({result.returncode}):\n{result.stdout}\n"
                           f"{result.stderr}")
    facts = json.loads((Path(out) / "run.json").read_text())
    return load_file(str(Path(out) / "model.safetensors")), facts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for model.safetensors and run.json")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8, help="global batch, all workers")
    args = parser.parse_args(argv)
    worker(args.out, args.steps, args.batch_size)
    # Leave without Python's shutdown: DDP keeps the gloo process group alive, and a gloo thread
    # that releases its last work object while the interpreter shuts down aborts the process
    # ("terminate called without an active exception", about 1 run in 10 on a busy machine).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
