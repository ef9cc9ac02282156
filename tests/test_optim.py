"""The optimizer written out (minillm.np.optim) and its PyTorch twin (minillm.optim): every update
rule equals torch.optim over 20 steps, clipping equals clip_grad_norm_, the schedule equals
torch's LinearLR + CosineAnnealingLR at every step, and bad input is refused in words."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _helpers import assert_close, randn, to_np

import minillm.np.optim as np_optim
import minillm.optim as torch_optim

SHAPES = {"w": (4, 3), "b": (3,), "emb": (5, 2)}
SCALES = {"w": 1.0, "b": 10.0, "emb": 0.01}   # gradients of different sizes: Adam evens them out
STEPS = 20


def initial_params():
    return {name: randn(*shape, seed=i) for i, (name, shape) in enumerate(SHAPES.items())}


def grads_at(step):
    """A fresh random gradient for every parameter at every step (float64)."""
    return {name: SCALES[name] * randn(*shape, seed=1000 + 10 * step + i)
            for i, (name, shape) in enumerate(SHAPES.items())}


def scheduled_lr(step):
    return np_optim.lr_at(step, 1e-2, 5, STEPS, min_lr=1e-3)


# name: (our step, given the twin module; torch.optim reference, given its params by name).
# Each of ours is called as rule(opt, params, grads, state, step) and updates params in place.
RULES = {
    "sgd": (lambda opt, p, g, s, step: opt.sgd_step(p, g, lr=0.1),
            lambda ps: torch.optim.SGD(ps.values(), lr=0.1)),
    "momentum": (lambda opt, p, g, s, step: opt.momentum_step(p, g, s, lr=0.1, momentum=0.9),
                 lambda ps: torch.optim.SGD(ps.values(), lr=0.1, momentum=0.9)),
    "adam": (lambda opt, p, g, s, step: opt.adam_step(p, g, s, lr=1e-2),
             lambda ps: torch.optim.Adam(ps.values(), lr=1e-2)),
    "adam with L2 penalty": (
        lambda opt, p, g, s, step: opt.adam_step(p, g, s, lr=1e-2, weight_decay=0.1),
        lambda ps: torch.optim.Adam(ps.values(), lr=1e-2, weight_decay=0.1)),
    "adamw": (lambda opt, p, g, s, step: opt.adamw_step(p, g, s, lr=1e-2, betas=(0.9, 0.95),
                                                        weight_decay=0.1),
              lambda ps: torch.optim.AdamW(ps.values(), lr=1e-2, betas=(0.9, 0.95),
                                           weight_decay=0.1)),
    "adamw, scheduled lr, matrices decayed": (
        lambda opt, p, g, s, step: opt.adamw_step(p, g, s, lr=scheduled_lr(step),
                                                  betas=(0.9, 0.95), weight_decay=0.1,
                                                  decayed={"w", "emb"}),
        lambda ps: torch.optim.AdamW([{"params": [ps["w"], ps["emb"]], "weight_decay": 0.1},
                                      {"params": [ps["b"]], "weight_decay": 0.0}],
                                     lr=scheduled_lr(0), betas=(0.9, 0.95))),
}


def run_torch_optim(make_optimizer, scheduled=False):
    """torch.optim's parameters after STEPS steps on grads_at(0), grads_at(1), ...; scheduled:
    every group's lr set to scheduled_lr(step) before each step."""
    params = {name: torch.tensor(value, requires_grad=True)
              for name, value in initial_params().items()}
    optimizer = make_optimizer(params)
    for step in range(STEPS):
        if scheduled:
            for group in optimizer.param_groups:
                group["lr"] = scheduled_lr(step)
        for name, p in params.items():
            p.grad = torch.tensor(grads_at(step)[name])
        optimizer.step()
    return {name: to_np(p) for name, p in params.items()}


def run_ours(rule, twin):
    if twin is np_optim:
        params, as_grads = initial_params(), dict
    else:   # leaf tensors that require grad, as a model's parameters do
        params = {name: torch.tensor(value, requires_grad=True)
                  for name, value in initial_params().items()}

        def as_grads(grads):
            return {name: torch.tensor(g) for name, g in grads.items()}
    state = {}
    for step in range(STEPS):
        rule(twin, params, as_grads(grads_at(step)), state, step)
    return {name: to_np(p) for name, p in params.items()}


TWINS = {"numpy": np_optim, "torch twin": torch_optim}


# ---- update rules == torch.optim -----------------------------------------------------------
@pytest.mark.parametrize("twin", TWINS.values(), ids=TWINS.keys())
@pytest.mark.parametrize("rule_name", RULES)
def test_update_rule_equals_torch_optim_over_20_steps(rule_name, twin):
    rule, make_reference = RULES[rule_name]
    expected = run_torch_optim(make_reference, scheduled="scheduled" in rule_name)
    ours = run_ours(rule, twin)
    for name in SHAPES:
        assert not np.allclose(ours[name], initial_params()[name]), f"{name} never moved"
        assert_close(ours[name], expected[name], atol=1e-6, rtol=1e-6)


def test_numpy_rules_equal_their_torch_twins_to_float64_rounding():
    for rule_name, (rule, _) in RULES.items():
        ours, twin = run_ours(rule, np_optim), run_ours(rule, torch_optim)
        for name in SHAPES:
            assert_close(ours[name], twin[name], atol=1e-12, rtol=1e-12), rule_name


def test_first_momentum_step_is_plain_sgd_and_the_velocity_is_remembered():
    params, grads, state = initial_params(), grads_at(0), {}
    sgd_params = initial_params()
    np_optim.momentum_step(params, grads, state, lr=0.1, momentum=0.9)
    np_optim.sgd_step(sgd_params, grads, lr=0.1)
    for name in SHAPES:
        assert_close(params[name], sgd_params[name])
        assert_close(state[name]["velocity"], grads[name])


def test_adam_moves_every_parameter_by_about_lr_whatever_its_gradient_scale():
    params, state = initial_params(), {}
    np_optim.adam_step(params, grads_at(0), state, lr=1e-3)
    for name in SHAPES:   # first step: m_hat / sqrt(v_hat) = g / |g| = ±1
        moved = np.abs(params[name] - initial_params()[name])
        assert_close(moved, np.full(SHAPES[name], 1e-3), atol=0, rtol=1e-4)   # eps: ~1e-5
        assert state[name]["step"] == 1


def test_adamw_decays_only_the_names_it_is_given():
    params, zero = initial_params(), {name: np.zeros(shape) for name, shape in SHAPES.items()}
    np_optim.adamw_step(params, zero, {}, lr=0.1, weight_decay=0.5, decayed={"w"})
    assert_close(params["w"], 0.95 * initial_params()["w"])   # p - lr * wd * p
    assert_close(params["b"], initial_params()["b"])


# ---- the torch.optim.Optimizer built on adamw_step -----------------------------------------
def run_adamw_class(optimizer_class, resume_at=None):
    """AdamW with nanoGPT's two groups and the schedule; "b" has no gradient on odd steps."""
    params = {name: torch.tensor(value, requires_grad=True)
              for name, value in initial_params().items()}

    def make():
        return optimizer_class([{"params": [params["w"], params["emb"]], "weight_decay": 0.1},
                                {"params": [params["b"]], "weight_decay": 0.0}],
                               lr=1e-2, betas=(0.9, 0.95))
    optimizer = make()
    for step in range(STEPS):
        if step == resume_at:   # a fresh optimizer that carries on from the saved state
            saved = optimizer.state_dict()
            optimizer = make()
            optimizer.load_state_dict(saved)
        for group in optimizer.param_groups:
            group["lr"] = scheduled_lr(step)
        for name, p in params.items():
            p.grad = None if name == "b" and step % 2 else torch.tensor(grads_at(step)[name])
        optimizer.step()
    return {name: to_np(p) for name, p in params.items()}, optimizer


def test_adamw_optimizer_equals_torch_adamw_with_groups_schedule_and_missing_grads():
    ours, optimizer = run_adamw_class(torch_optim.AdamW)
    expected, _ = run_adamw_class(torch.optim.AdamW)
    for name in SHAPES:
        assert_close(ours[name], expected[name], atol=1e-6, rtol=1e-6)
    b = optimizer.param_groups[1]["params"][0]
    assert optimizer.state[b]["step"] == STEPS // 2   # skipped steps do not count


def test_adamw_optimizer_resumed_from_its_state_dict_ends_where_an_uninterrupted_run_does():
    straight, _ = run_adamw_class(torch_optim.AdamW)
    resumed, _ = run_adamw_class(torch_optim.AdamW, resume_at=STEPS // 2)
    for name in SHAPES:
        assert_close(resumed[name], straight[name], atol=0, rtol=0)


# ---- gradient clipping == clip_grad_norm_ --------------------------------------------------
def total_norm(grads):
    return math.sqrt(sum(float(np.sum(g**2)) for g in grads.values()))


@pytest.mark.parametrize("twin", TWINS.values(), ids=TWINS.keys())
@pytest.mark.parametrize("times_norm", [0.3, 2.0, math.inf], ids=["above", "below", "inf"])
def test_clip_grad_norm_equals_torch_clip_grad_norm_(twin, times_norm):
    grads = grads_at(0)
    max_norm = times_norm * total_norm(grads)
    tensors = {name: torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
               for name, g in grads.items()}
    for name, t in tensors.items():
        t.grad = torch.tensor(grads[name])
    expected_norm = torch.nn.utils.clip_grad_norm_(tensors.values(), max_norm)
    given = grads if twin is np_optim else {n: torch.tensor(g) for n, g in grads.items()}
    clipped, norm = twin.clip_grad_norm(given, max_norm)
    assert float(norm) == pytest.approx(float(expected_norm), rel=1e-12)
    for name, t in tensors.items():
        assert_close(clipped[name], t.grad, atol=1e-12, rtol=1e-12)
        assert_close(given[name], grads[name], atol=0, rtol=0)   # the input is left as it was
    if times_norm < 1:
        assert total_norm({n: to_np(g) for n, g in clipped.items()}) == pytest.approx(
            max_norm, rel=1e-6)


# ---- the schedule == torch's warm-up + cosine ----------------------------------------------
def reference_schedule(peak_lr, warmup_steps, total_steps, min_lr):
    """The lr of every step from torch's own schedulers: LinearLR from (almost) 0 to the peak
    over warmup_steps, then CosineAnnealingLR down to min_lr over the remaining steps."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=peak_lr)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, total_steps - 1 - warmup_steps), eta_min=min_lr)
    schedule = cosine
    if warmup_steps:
        # LinearLR needs start_factor > 0: 1e-300 is 0 to any tolerance.
        warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1e-300,
                                                   end_factor=1.0, total_iters=warmup_steps)
        schedule = torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine],
                                                         milestones=[warmup_steps])
    lrs = []
    for _ in range(total_steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return lrs


SCHEDULES = [(1.0, 10, 100, 0.1), (3e-4, 50, 500, 3e-5), (1e-3, 0, 40, 0.0), (0.5, 3, 12, 0.05),
             (1.0, 5, 6, 0.1)]


@pytest.mark.parametrize("peak_lr, warmup_steps, total_steps, min_lr", SCHEDULES)
def test_lr_at_equals_torch_linear_warmup_then_cosine_at_every_step(peak_lr, warmup_steps,
                                                                    total_steps, min_lr):
    expected = reference_schedule(peak_lr, warmup_steps, total_steps, min_lr)
    ours = [np_optim.lr_at(step, peak_lr, warmup_steps, total_steps, min_lr)
            for step in range(total_steps)]
    assert_close(np.array(ours), np.array(expected), atol=1e-12 * peak_lr, rtol=1e-9)


def test_warmup_starts_from_zero_peaks_at_its_end_and_decay_ends_at_min_lr():
    def lr(step):
        return np_optim.lr_at(step, 1.0, 10, 100, min_lr=0.1)
    assert lr(0) == 0.0
    assert lr(5) == 0.5
    assert lr(10) == 1.0 and lr(9) < 1.0
    assert lr(99) == 0.1 and lr(150) == 0.1
    lrs = [lr(step) for step in range(10, 100)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_without_warmup_the_first_step_uses_the_peak_lr():
    assert np_optim.lr_at(0, 0.5, 0, 10) == 0.5


def test_the_torch_twin_uses_the_same_schedule():
    assert torch_optim.lr_at is np_optim.lr_at


# ---- bad input -----------------------------------------------------------------------------
def each_rule(twin, params, grads, lr):
    """Calls of the four update rules with these params, grads and lr."""
    return [lambda: twin.sgd_step(params, grads, lr),
            lambda: twin.momentum_step(params, grads, {}, lr),
            lambda: twin.adam_step(params, grads, {}, lr),
            lambda: twin.adamw_step(params, grads, {}, lr)]


BAD_GRADS = {
    "negative lr": ({}, -0.1, "lr must be 0 or more, got -0.1"),
    "missing grad": ({"drop": "b"}, 0.1, r"no gradient for \['b'\]"),
    "extra grad": ({"add": "x"}, 0.1, r"gradients of no parameter \['x'\]"),
    "wrong shape": ({"transpose": "w"}, 0.1,
                    r"grads\['w'\] has shape \(3, 4\), expected \(4, 3\) like params\['w'\]"),
}


@pytest.mark.parametrize("twin", TWINS.values(), ids=TWINS.keys())
@pytest.mark.parametrize("case", BAD_GRADS)
def test_every_rule_refuses_a_bad_lr_or_grads_that_do_not_match_params(twin, case):
    change, lr, message = BAD_GRADS[case]
    params, grads = initial_params(), grads_at(0)
    if "drop" in change:
        del grads[change["drop"]]
    if "add" in change:
        grads[change["add"]] = np.zeros(2)
    if "transpose" in change:
        grads[change["transpose"]] = grads[change["transpose"]].T
    if twin is torch_optim:
        params = {n: torch.tensor(p) for n, p in params.items()}
        grads = {n: torch.tensor(g) for n, g in grads.items()}
    for call in each_rule(twin, params, grads, lr):
        with pytest.raises(ValueError, match=message):
            call()


@pytest.mark.parametrize("twin", TWINS.values(), ids=TWINS.keys())
@pytest.mark.parametrize("settings, message", [
    ({"betas": (0.9, 1.0)}, r"betas\[1\] must lie in \[0, 1\)"),
    ({"betas": 0.9}, r"betas must be a pair \(beta1, beta2\)"),
    ({"eps": -1e-8}, "eps must be 0 or more"),
    ({"weight_decay": -0.1}, "weight_decay must be 0 or more"),
    ({"decayed": {"W"}}, r"decayed must name parameters of params .* unknown names \['W'\]"),
])
def test_adamw_refuses_bad_settings_naming_them(twin, settings, message):
    params, grads = initial_params(), grads_at(0)
    if twin is torch_optim:
        params = {n: torch.tensor(p) for n, p in params.items()}
        grads = {n: torch.tensor(g) for n, g in grads.items()}
    with pytest.raises(ValueError, match=message):
        twin.adamw_step(params, grads, {}, 0.1, **settings)


@pytest.mark.parametrize("twin", TWINS.values(), ids=TWINS.keys())
@pytest.mark.parametrize("max_norm", [0.0, -1.0, math.nan])
def test_clip_grad_norm_refuses_a_max_norm_that_is_not_positive(twin, max_norm):
    with pytest.raises(ValueError, match="max_norm must be greater than 0"):
        twin.clip_grad_norm({"w": np.ones(3) if twin is np_optim else torch.ones(3)}, max_norm)


@pytest.mark.parametrize("args, message", [
    ((-1, 1.0, 10, 100), "step must be an integer of at least 0, got -1"),
    ((0, -1.0, 10, 100), "peak_lr must be 0 or more"),
    ((0, 1.0, 10, 0), "total_steps must be a positive integer, got 0"),
    ((0, 1.0, 2.5, 100), "warmup_steps must be an integer"),
    ((0, 0.1, 10, 100, 0.2), "min_lr must not exceed peak_lr"),
])
def test_lr_at_refuses_bad_settings_naming_them(args, message):
    with pytest.raises(ValueError, match=message):
        np_optim.lr_at(*args)


def test_adamw_optimizer_refuses_bad_settings_when_built():
    with pytest.raises(ValueError, match=r"betas\[0\] must lie in \[0, 1\)"):
        torch_optim.AdamW([torch.zeros(2, requires_grad=True)], betas=(1.5, 0.9))
