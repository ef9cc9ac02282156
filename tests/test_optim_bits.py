"""minillm.optim.AdamW keeps its numbers to the bit: its in-place step (issue 14, "AdamW not in
place") gives exactly the parameters and moments of the step it replaced, frozen below as
`old_adamw_step`. Every chapter that trains went through the old step, so a single changed bit
would change stored outputs.

The run: two parameter groups (weight decay 0.1 and none), a warm-up that starts at lr = 0 and a
decay after it, a parameter that has no gradient on odd steps and one that never has one, several
steps, then a resumed optimizer. Compared by their bits (int32 views), so even the sign of a zero
counts.
"""
from __future__ import annotations

import torch

import minillm.optim as torch_optim

SHAPES = {"w": (6, 5), "emb": (7, 3), "b": (5,), "ln": (3,), "frozen": (2,)}
STEPS = 8


# ---- the step as it was before it worked in place (commit dfbd63a), written out ------------
@torch.no_grad()
def old_adamw_step(p, g, s, lr, betas, eps, weight_decay):
    """minillm.optim.adamw_step on one parameter, as it was: new tensors for m and v."""
    beta1, beta2 = betas
    p -= lr * weight_decay * p
    if not s:
        s.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
    s["step"] += 1
    s["m"] = beta1 * s["m"] + (1 - beta1) * g
    s["v"] = beta2 * s["v"] + (1 - beta2) * g**2
    m_hat = s["m"] / (1 - beta1 ** s["step"])
    v_hat = s["v"] / (1 - beta2 ** s["step"])
    p -= lr * m_hat / (torch.sqrt(v_hat) + eps)


class OldAdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    old_adamw_step(p, p.grad, self.state[p], group["lr"], group["betas"],
                                   group["eps"], group["weight_decay"])


# ---- the run ---------------------------------------------------------------------------------
def lr_at(step):
    """Warm-up from 0 over 3 steps to 3e-2, then down by a third each step."""
    return 3e-2 * step / 3 if step < 3 else 3e-2 * (2 / 3) ** (step - 3)


def run(optimizer_class, resume_at=None):
    gen = torch.Generator().manual_seed(14)
    params = {name: torch.randn(shape, generator=gen).requires_grad_()
              for name, shape in SHAPES.items()}
    params["b"].data[:2] = torch.tensor([0.0, -0.0])   # zeros of both signs

    def make():
        return optimizer_class([{"params": [params["w"], params["emb"]], "weight_decay": 0.1},
                                {"params": [params["b"], params["ln"], params["frozen"]],
                                 "weight_decay": 0.0}],
                               lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    optimizer = make()
    for step in range(STEPS):
        if step == resume_at:
            saved = optimizer.state_dict()
            optimizer = make()
            optimizer.load_state_dict(saved)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        for name, p in params.items():
            scale = {"w": 1.0, "emb": 1e-3, "b": 10.0, "ln": 0.1}.get(name, 1.0)
            grad = scale * torch.randn(p.shape, generator=gen)
            p.grad = None if name == "frozen" or (name == "ln" and step % 2) else grad
        optimizer.step()
    return params, optimizer


def bits(t):
    return t.detach().contiguous().view(torch.int32)


def assert_same_bits(ours, old):
    (params, optimizer), (old_params, old_optimizer) = ours, old
    for name in SHAPES:
        assert torch.equal(bits(params[name]), bits(old_params[name])), name
        state, old_state = optimizer.state[params[name]], old_optimizer.state[old_params[name]]
        assert state.keys() == old_state.keys(), name
        if state:
            assert state["step"] == old_state["step"], name
            assert torch.equal(bits(state["m"]), bits(old_state["m"])), name
            assert torch.equal(bits(state["v"]), bits(old_state["v"])), name


def test_adamw_step_gives_the_old_steps_bits():
    assert_same_bits(run(torch_optim.AdamW), run(OldAdamW))


def test_adamw_step_resumed_from_a_state_dict_gives_the_old_steps_bits():
    assert_same_bits(run(torch_optim.AdamW, resume_at=STEPS // 2), run(OldAdamW))


def test_the_run_exercises_what_it_claims():
    params, optimizer = run(torch_optim.AdamW)
    assert optimizer.state[params["ln"]]["step"] == STEPS // 2   # skipped steps do not count
    assert not optimizer.state[params["frozen"]]                  # never a gradient, no state
    assert lr_at(0) == 0 and lr_at(3) > lr_at(7) > 0
