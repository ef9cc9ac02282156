"""LoRA（低秩适配）: a trainable low-rank update beside each frozen weight (Hu et al., 2021):
`LoRALinear`, `add_lora` to wrap a model's projections, `merge_lora` to fold the updates back."""
from __future__ import annotations

import math

import torch
from torch import nn

from minillm.finetune.freezing import freeze


# ---- LoRA ----------------------------------------------------------------------------------
class LoRALinear(nn.Module):
    """A frozen Linear plus a trainable low-rank update (LoRA):

        y = base(x) + (x A^T B^T) * alpha / rank,   A: (rank, in), B: (out, rank).

    The update B A has rank <= rank, so it trains rank * (in + out) numbers instead of
    in * out. A starts small and random (as nn.Linear inits a weight), B at zero: at first the
    layer computes exactly what base does, and training moves it away from there.
    x: (..., in) -> (..., out). Submodule: base; parameters: lora_A, lora_B; in_features,
    out_features and weight read like a Linear's.
    """

    def __init__(self, base: nn.Linear, rank=4, alpha=8):
        super().__init__()
        largest = min(base.in_features, base.out_features)
        if not isinstance(rank, int) or not 1 <= rank <= largest:
            raise ValueError(f"rank must be an integer in [1, {largest}] for a "
                             f"Linear({base.in_features}, {base.out_features}), got {rank!r}")
        self.base = freeze(base)
        self.rank, self.alpha, self.scale = rank, alpha, alpha / rank
        weight = base.weight
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, dtype=weight.dtype,
                                               device=weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, dtype=weight.dtype,
                                               device=weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    @property
    def in_features(self):
        return self.base.in_features

    @property
    def out_features(self):
        return self.base.out_features

    @property
    def weight(self):
        """The effective weight base.weight + B A * alpha / rank: (out, in), for code that reads
        a Linear's weight directly (an untied lm_head)."""
        return self.base.weight + self.delta_weight()

    def delta_weight(self):
        """The update to base.weight: B A * alpha / rank, (out, in)."""
        return self.lora_B @ self.lora_A * self.scale

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scale

    def merged(self):
        """base with the update folded into its weight: a plain Linear, as fast as before."""
        with torch.no_grad():
            self.base.weight += self.delta_weight()
        return self.base


def _replace(model, name, new_module):
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, new_module)


def add_lora(model, rank=4, alpha=8, targets=("q_proj", "v_proj")):
    """Freeze model, then wrap every nn.Linear whose name ends in one of targets in a
    LoRALinear, in place. The paper's default targets are the attention's query and value
    projections; "k_proj", "out_proj", "up", "down", "gate" also name Linears here.
    Returns the new trainable parameters (a list of each LoRALinear's lora_A, lora_B)."""
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear) and name}
    chosen = [name for name in linears if name.rpartition(".")[2] in targets]
    if not chosen:
        names = sorted({name.rpartition(".")[2] for name in linears})
        raise ValueError(f"no Linear in the model is named {targets}; its Linears are named "
                         f"{names}")
    freeze(model)
    params = []
    for name in chosen:
        lora = LoRALinear(linears[name], rank, alpha)
        _replace(model, name, lora)
        params += [lora.lora_A, lora.lora_B]
    return params


def merge_lora(model):
    """Fold every LoRALinear's update into its base weight and put the plain Linear back, in
    place: the same outputs, no extra cost per token, and the original state_dict keys (the
    merged weights stay frozen). Returns model."""
    loras = [name for name, m in model.named_modules() if isinstance(m, LoRALinear)]
    if not loras:
        raise ValueError("the model has no LoRALinear to merge; call add_lora first")
    for name in loras:
        _replace(model, name, model.get_submodule(name).merged())
    return model
