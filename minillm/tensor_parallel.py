"""Tensor parallelism（张量并行）: one Transformer layer split across processes, Megatron-style.

Data parallelism (`minillm.ddp`) copies the whole model to every worker and splits the batch;
tensor parallelism splits each layer's weight matrices, so that every worker (rank) holds
1/world_size of the layer and sees the whole batch. A sublayer costs one all-reduce (sum) of the
activations in the forward pass, and one in the backward:

    feed-forward:  up (and gate) split by output features ("column-parallel"): rank r holds
                   d_ff / world_size hidden units, computes them in full; down split by input
                   features ("row-parallel"): rank r multiplies its hidden units by its columns
                   of down, a partial (batch, seq, d_model) output; all-reduce(sum) adds them.
    attention:     q/k/v split by heads: rank r holds n_heads / world_size heads (and
                   n_kv_heads / world_size key/value heads) and attends with them in full;
                   out_proj split by input features (the columns of those heads); all-reduce.

Biases of up/gate/q/k/v are split with their rows; the row-parallel biases (out_proj, down) and
the norms are kept whole on every rank and added once, after the all-reduce. So the shard's
output equals the full layer's, and its gradients equal slices of the full layer's gradients.

    shard = shard_layer(model.layers[0], rank, world_size)     # inside a gloo process group
    y = shard(x, mask)                                          # equal to model.layers[0]

`run_tensor_parallel` starts world_size processes (gloo on 127.0.0.1, one thread each) that run
one layer forward and backward; `run_single_process` does the same with the unsplit layer.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from minillm.attention import causal_mask, grouped_query_attention, merge_heads, split_heads
from minillm.checks import check_last_dim
from minillm.config import TransformerConfig
from minillm.ddp import free_port
from minillm.layers import FeedForward, Linear, build_norm
from minillm.positional import rope
from minillm.transformer import DecoderLM, EncoderLayer, residual

SEED = 0

# Parameters split by output features (weight rows, and the bias): each rank computes whole units.
COLUMN_PARALLEL = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "ff.up", "ff.gate")
# Weights split by input features (weight columns): each rank gives a partial sum of the output.
ROW_PARALLEL = ("self_attn.out_proj", "ff.down")


# ---- the two communication steps, as autograd functions ---------------------------------------
class _CopyToShards(torch.autograd.Function):
    """Forward: x unchanged (every rank already holds the whole input). Backward: all-reduce(sum)
    of the input's gradient, since each rank's shard gives only its part of it."""

    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad):
        return _all_reduce_sum(grad)


class _SumOverShards(torch.autograd.Function):
    """Forward: all-reduce(sum) of the ranks' partial outputs. Backward: the gradient unchanged
    (d sum / d partial = identity, and every rank already holds the whole gradient)."""

    @staticmethod
    def forward(ctx, partial):
        return _all_reduce_sum(partial)

    @staticmethod
    def backward(ctx, grad):
        return grad


def _all_reduce_sum(x):
    """The sum of x over all ranks (x itself outside a process group: one rank)."""
    x = x.clone()
    if dist.is_initialized():
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def copy_to_shards(x):
    """x: (..., d_model), the input every rank holds whole; its gradient is summed over ranks."""
    return _CopyToShards.apply(x)


def sum_over_shards(partial):
    """partial: (..., d_model), this rank's share of a sublayer's output -> the sum over ranks."""
    return _SumOverShards.apply(partial)


# ---- the shards -------------------------------------------------------------------------------
class RowParallelLinear(Linear):
    """A Linear split by input features: weight (out, in / world_size), bias (out,) whole.
    x: (..., in / world_size), this rank's features -> (..., out), the sum over ranks of
    x W^T, plus the bias once."""

    def forward(self, x):
        check_last_dim("x", x, self.in_features, "in_features")
        out = sum_over_shards(F.linear(x, self.weight))
        return out if self.bias is None else out + self.bias


class FeedForwardShard(FeedForward):
    """Rank r's part of FeedForward: up (and gate) (d_ff / world_size, d_model), down
    RowParallelLinear (d_model, d_ff / world_size). x: (..., d_model) -> (..., d_model)."""

    def __init__(self, cfg: TransformerConfig, world_size):
        super().__init__(cfg.d_model, cfg.d_ff // world_size, cfg.activation, cfg.bias)
        self.down = RowParallelLinear(cfg.d_ff // world_size, cfg.d_model, bias=cfg.bias)

    def forward(self, x):
        return super().forward(copy_to_shards(x))


class AttentionShard(nn.Module):
    """Rank r's heads of MultiHeadAttention (self-attention): q_proj (heads * d_head, d_model),
    k_proj, v_proj (kv_heads * d_head, d_model), out_proj RowParallelLinear (d_model,
    heads * d_head), with heads = n_heads / world_size and kv_heads = n_kv_heads / world_size."""

    def __init__(self, cfg: TransformerConfig, world_size):
        super().__init__()
        self.n_heads, self.n_kv_heads = cfg.n_heads // world_size, cfg.kv_heads // world_size
        self.rope_base = cfg.rope_base if cfg.positional == "rope" else None
        d_q, d_kv = self.n_heads * cfg.d_head, self.n_kv_heads * cfg.d_head
        self.q_proj = Linear(cfg.d_model, d_q, bias=cfg.bias)
        self.k_proj = Linear(cfg.d_model, d_kv, bias=cfg.bias)
        self.v_proj = Linear(cfg.d_model, d_kv, bias=cfg.bias)
        self.out_proj = RowParallelLinear(d_q, cfg.d_model, bias=cfg.bias)

    def forward(self, x, mask=None):
        """x: (batch, seq, d_model); mask: bool (seq, seq), True = may attend.
        Returns (batch, seq, d_model), the sum over ranks of their heads' contributions."""
        x = copy_to_shards(x)
        q = split_heads(self.q_proj(x), self.n_heads)       # (batch, heads, seq, d_head)
        k = split_heads(self.k_proj(x), self.n_kv_heads)    # (batch, kv_heads, seq, d_head)
        v = split_heads(self.v_proj(x), self.n_kv_heads)
        if self.rope_base is not None:
            q, k = rope(q, self.rope_base), rope(k, self.rope_base)
        return self.out_proj(merge_heads(grouped_query_attention(q, k, v, mask)))


class TensorParallelLayer(nn.Module):
    """Rank r's part of an EncoderLayer (a GPT block): norm1 and norm2 whole, self_attn an
    AttentionShard, ff a FeedForwardShard. Its state_dict keys are the full layer's."""

    def __init__(self, cfg: TransformerConfig, world_size):
        super().__init__()
        check_world_size(cfg, world_size)
        self.cfg, self.world_size = cfg, world_size
        norm = (cfg.d_model, cfg.norm, cfg.norm_eps, cfg.bias)
        self.self_attn, self.norm1 = AttentionShard(cfg, world_size), build_norm(*norm)
        self.ff, self.norm2 = FeedForwardShard(cfg, world_size), build_norm(*norm)

    def forward(self, x, mask=None):
        """x: (batch, seq, d_model), the same on every rank; mask: bool (seq, seq), True = may
        attend. Returns y: (batch, seq, d_model), the same on every rank."""
        _check_process_group(self.world_size)
        x, _ = residual(lambda h: (self.self_attn(h, mask), None), self.norm1, x, self.cfg)
        y, _ = residual(lambda h: (self.ff(h), None), self.norm2, x, self.cfg)
        return y


# ---- splitting a layer's weights ----------------------------------------------------------------
def check_world_size(cfg: TransformerConfig, world_size):
    """world_size must split the heads, the key/value heads and the hidden units evenly."""
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a whole number of processes >= 1, got "
                         f"{world_size!r}")
    for name, size, what in (("n_heads", cfg.n_heads, "attention heads"),
                             ("n_kv_heads", cfg.n_kv_heads, "key/value heads"),
                             ("d_ff", cfg.d_ff, "feed-forward hidden units")):
        if size is not None and size % world_size:
            raise ValueError(f"{name}={size} is not divisible by world_size={world_size}: "
                             f"every rank must hold the same number of whole {what}")
    if cfg.dropout:
        raise ValueError(f"a tensor-parallel layer has no dropout (the ranks would need one "
                         f"shared random stream): got dropout={cfg.dropout}")


def shard_of(name, tensor, rank, world_size):
    """Rank `rank`'s part of the full layer's parameter (or gradient) `name`: column-parallel
    ones split along dim 0, row-parallel weights along dim 1, everything else whole."""
    module = name.rsplit(".", 1)[0]
    if module in COLUMN_PARALLEL:
        return tensor.chunk(world_size, dim=0)[rank].clone()
    if module in ROW_PARALLEL and name.endswith(".weight"):
        return tensor.chunk(world_size, dim=1)[rank].clone()
    return tensor.clone()


def shard_state(state, rank, world_size):
    """{name: tensor} of a full layer (its state_dict, or its gradients) -> rank's part."""
    return {name: shard_of(name, tensor, rank, world_size) for name, tensor in state.items()}


def shard_layer(layer, rank, world_size):
    """Rank `rank`'s TensorParallelLayer, holding its slices of layer's weights (copies).
    layer: an EncoderLayer, e.g. DecoderLM(cfg).layers[0]."""
    if not isinstance(layer, EncoderLayer):
        raise TypeError(f"shard_layer splits an EncoderLayer (a GPT block, such as "
                        f"DecoderLM(cfg).layers[0]), got {type(layer).__name__}")
    check_world_size(layer.cfg, world_size)
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"rank must be 0 ... {world_size - 1} for world_size={world_size}, "
                         f"got {rank!r}")
    shard = TensorParallelLayer(layer.cfg, world_size)
    shard.load_state_dict(shard_state(layer.state_dict(), rank, world_size))
    return shard


def _check_process_group(world_size):
    group = dist.get_world_size() if dist.is_initialized() else 1
    if group != world_size:
        raise RuntimeError(f"this shard is 1 of world_size={world_size} and must run in a "
                           f"process group of that size, but the group has {group} process(es):"
                           f" call torch.distributed.init_process_group (see `worker`)")


# ---- one layer forward and backward, split or whole ---------------------------------------------
def example_layer(cfg: TransformerConfig):
    """The first layer of the seeded DecoderLM(cfg): every process builds the same one."""
    torch.manual_seed(SEED)
    return DecoderLM(cfg).layers[0]


def example_inputs(cfg: TransformerConfig, batch=2, seq=8):
    """Seeded x (the layer's input) and dy (the gradient of the loss with respect to its output),
    both (batch, seq, d_model): the loss is (y * dy).sum()."""
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(batch, seq, cfg.d_model, generator=generator)
    return x, torch.randn(batch, seq, cfg.d_model, generator=generator)


def forward_backward(layer, x, dy):
    """Run layer (an EncoderLayer or a TensorParallelLayer) on x with a causal mask and backward
    from dy. Returns {"output": y, "input_grad": dx, "grad.<name>": each parameter's gradient}."""
    x = x.clone().requires_grad_(True)
    y = layer(x, causal_mask(x.shape[1]))
    y = y[0] if isinstance(y, tuple) else y       # an EncoderLayer also returns its weights
    (y * dy).sum().backward()
    grads = {f"grad.{name}": p.grad for name, p in layer.named_parameters()}
    return {"output": y.detach(), "input_grad": x.grad, **grads}


def run_single_process(cfg: TransformerConfig):
    """The reference: example_layer(cfg), whole, forward and backward in this process."""
    return forward_backward(example_layer(cfg), *example_inputs(cfg))


def expected_on_rank(reference, rank, world_size):
    """What rank's results must equal: the whole output and input gradient, and its slices of
    the full layer's parameter gradients."""
    grads = {name[len("grad."):]: g for name, g in reference.items() if name.startswith("grad.")}
    sliced = {f"grad.{name}": g for name, g in shard_state(grads, rank, world_size).items()}
    return {"output": reference["output"], "input_grad": reference["input_grad"], **sliced}


def worker(out, cfg: TransformerConfig, rank, world_size, port):
    """One process: join the gloo group, run its shard of example_layer(cfg) forward and
    backward, and save the results as out/rank{rank}.safetensors."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size)
    shard = shard_layer(example_layer(cfg), rank, world_size)
    results = forward_backward(shard, *example_inputs(cfg))
    save_file({k: v.contiguous() for k, v in results.items()},
              str(Path(out) / f"rank{rank}.safetensors"))
    dist.destroy_process_group()


def run_tensor_parallel(out, cfg: TransformerConfig, world_size=2, timeout=120):
    """Start world_size worker processes (this Python, gloo on 127.0.0.1 at a free port, one
    thread each) and wait. Returns one results dict per rank (see forward_backward); raises
    RuntimeError with the workers' output if one fails or the run takes over timeout seconds."""
    check_world_size(cfg, world_size)
    Path(out).mkdir(parents=True, exist_ok=True)
    port, config, env = free_port(), json.dumps(cfg.to_dict()), _worker_env()
    workers = [subprocess.Popen(     # one process per rank, all started before any is waited on
        [sys.executable, "-m", "minillm.tensor_parallel", "--out", str(out), "--config", config,
         "--rank", str(rank), "--world-size", str(world_size), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for rank in range(world_size)]
    outputs, failed = _wait_all(workers, timeout)
    if failed:
        report = "\n".join(f"--- rank {r} (exit {w.returncode}):\n{text}"
                           for r, (w, text) in enumerate(zip(workers, outputs)))
        raise RuntimeError(f"tensor-parallel run failed ({failed}):\n{report}")
    return [load_file(str(Path(out) / f"rank{rank}.safetensors")) for rank in range(world_size)]


def _worker_env():
    """This process's environment, with one thread per worker, and the folder holding this
    minillm first on PYTHONPATH: the workers run the same code as this process, even when
    another copy of minillm is installed."""
    root = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": path}


def _wait_all(workers, timeout):
    """Wait for every worker. A rank that fails leaves the others waiting for it in an
    all-reduce, so once one fails (or the timeout passes) the rest are killed. Returns (their
    outputs, None when all exited 0, else the reason)."""
    deadline, reason = time.monotonic() + timeout, None
    while reason is None and any(process.poll() is None for process in workers):
        failed = [r for r, process in enumerate(workers) if process.poll()]
        if failed:
            reason = f"rank {failed[0]} exited with {workers[failed[0]].returncode}"
        elif time.monotonic() > deadline:
            reason = f"still running after {timeout} s"
        time.sleep(0.05)
    for process in workers:
        if process.poll() is None:
            process.kill()
    outputs = [process.communicate()[0] for process in workers]
    failed = [r for r, process in enumerate(workers) if process.returncode]
    if reason is None and failed:
        reason = f"rank {failed[0]} exited with {workers[failed[0]].returncode}"
    return outputs, reason


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for rank{r}.safetensors")
    parser.add_argument("--config", required=True, help="TransformerConfig fields as JSON")
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--world-size", type=int, required=True)
    parser.add_argument("--port", type=int, required=True, help="the group's port on 127.0.0.1")
    args = parser.parse_args(argv)
    cfg = TransformerConfig(**json.loads(args.config))
    worker(args.out, cfg, args.rank, args.world_size, args.port)
    # Leave without Python's shutdown, as minillm.ddp does: a gloo thread that releases its last
    # work object while the interpreter shuts down can abort the process.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
