"""The training loop: schedule, optimizer groups, clipping, evaluation, and a resumed run
that ends with exactly the weights of an uninterrupted one."""
from __future__ import annotations

import math

import matplotlib
import pytest
import torch

from minillm import DecoderLM, TransformerConfig, optim
from minillm.checkpoint import load_checkpoint, save_checkpoint
from minillm.objectives import causal_lm_loss
from minillm.train import (
    TrainConfig,
    batches_by_step,
    clip_gradients,
    evaluate,
    evaluating,
    lr_at,
    make_optimizer,
    pick_device,
    train,
)

matplotlib.use("Agg")

MODEL_CFG = TransformerConfig.tiny(vocab_size=20, d_model=16, n_heads=2, d_ff=32, max_seq_len=16,
                                   dropout=0.2)
TRAIN_CFG = TrainConfig(steps=12, batch_size=4, lr=1e-2, warmup_steps=3, eval_every=4,
                        device="cpu")


def get_batch(step):
    """A batch that depends only on the step: (x, y), y the next token of x."""
    gen = torch.Generator().manual_seed(1000 + step)
    window = torch.randint(MODEL_CFG.vocab_size, (4, 9), generator=gen)
    return window[:, :-1], window[:, 1:]


def fresh_model(seed=0):
    torch.manual_seed(seed)
    return DecoderLM(MODEL_CFG)


def assert_same_weights(a, b):
    for name, value in a.state_dict().items():
        assert torch.equal(b.state_dict()[name], value), f"{name} differs"


# ---- the schedule and the optimizer --------------------------------------------------------
def torch_schedule(cfg):
    """The learning rates torch's schedulers give a whole run of cfg: LinearLR from (almost) 0
    to cfg.lr over cfg.warmup_steps, then CosineAnnealingLR down to cfg.lr * cfg.min_lr_ratio
    at the last step, joined by SequentialLR."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, cfg.steps - 1 - cfg.warmup_steps),
        eta_min=cfg.lr * cfg.min_lr_ratio)
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1e-300, end_factor=1.0,
                                               total_iters=cfg.warmup_steps)
    schedule = torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine],
                                                     milestones=[cfg.warmup_steps])
    lrs = []
    for _ in range(cfg.steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return lrs


def test_lr_warms_up_from_zero_to_the_peak_then_decays_by_cosine_to_the_minimum():
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    lrs = [lr_at(step, cfg) for step in range(cfg.steps)]
    assert lrs[0] == 0.0 and lrs[10] == 1.0 and lrs[-1] == pytest.approx(0.1)
    assert lrs[:11] == pytest.approx([s / 10 for s in range(11)])
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lr_at(55, cfg) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 45 / 89)))


@pytest.mark.parametrize("cfg", [TrainConfig(steps=100, lr=1.0, warmup_steps=10),
                                 TrainConfig(steps=3000, lr=6e-3, warmup_steps=50),
                                 TrainConfig(steps=12, lr=1e-2, warmup_steps=3, min_lr_ratio=0)])
def test_lr_at_equals_torch_linear_warmup_then_cosine_for_a_whole_run(cfg):
    assert [lr_at(step, cfg) for step in range(cfg.steps)] == pytest.approx(
        torch_schedule(cfg), rel=1e-9, abs=1e-12)


def test_the_loop_schedule_is_the_library_one():
    cfg = TrainConfig(steps=50, lr=3e-3, warmup_steps=7, min_lr_ratio=0.2)
    assert [lr_at(s, cfg) for s in range(50)] == [
        optim.lr_at(s, 3e-3, 7, 50, min_lr=3e-3 * 0.2) for s in range(50)]


def test_without_warmup_the_first_step_uses_the_peak_lr():
    assert lr_at(0, TrainConfig(steps=10, lr=0.5, warmup_steps=0)) == pytest.approx(0.5)


def test_weight_decay_applies_to_matrices_and_embeddings_not_biases_or_norms():
    model = fresh_model()
    optimizer = make_optimizer(model, TrainConfig(weight_decay=0.3))
    assert isinstance(optimizer, optim.AdamW)   # the course's own, not torch.optim.AdamW
    decay, no_decay = optimizer.param_groups
    names = {id(p): name for name, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    not_decayed = {names[id(p)] for p in no_decay["params"]}
    assert decay["weight_decay"] == 0.3 and no_decay["weight_decay"] == 0.0
    assert {"tok_emb.weight", "pos_emb.weight", "layers.0.ff.up.weight"} <= decayed
    assert {"layers.0.ff.up.bias", "layers.0.norm1.weight", "final_norm.bias"} <= not_decayed
    assert decayed | not_decayed == set(names.values())


def test_pick_device_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")


def test_pick_device_refuses_unknown_or_absent_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        pick_device("gpu0")
    with pytest.raises(ValueError, match="'cuda' is not available on this machine"):
        pick_device("cuda")
    assert pick_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("field, value", [("steps", 0), ("lr", 0.0), ("min_lr_ratio", 2.0),
                                          ("warmup_steps", -1), ("eval_every", 0)])
def test_train_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


# ---- the loop ------------------------------------------------------------------------------
def test_history_records_every_step_and_every_evaluation():
    history = train(fresh_model(), causal_lm_loss, get_batch, TRAIN_CFG, progress=False,
                    eval_fn=lambda m: evaluate(m, causal_lm_loss, [get_batch(-1)]))
    assert history["step"] == list(range(1, 13))
    assert history["lr"] == pytest.approx([lr_at(s, TRAIN_CFG) for s in range(12)])
    assert history["eval_step"] == [4, 8, 12]
    assert history["eval_ppl"] == pytest.approx([math.exp(x) for x in history["eval_loss"]])
    assert all(isinstance(x, float) for x in history["loss"] + history["grad_norm"])


def test_log_every_thins_the_history_but_keeps_the_last_step():
    history = train(fresh_model(), causal_lm_loss, get_batch, TRAIN_CFG.replace(log_every=5),
                    progress=False)
    assert history["step"] == [5, 10, 12]


def test_grad_norm_is_measured_before_clipping_and_the_gradient_is_clipped():
    model = fresh_model()
    reference = fresh_model()
    reference.train()
    torch.manual_seed(TRAIN_CFG.seed)  # train seeds dropout the same way
    causal_lm_loss(reference, get_batch(0)).backward()
    norm = torch.cat([p.grad.flatten() for p in reference.parameters()]).norm().item()
    cfg = TRAIN_CFG.replace(steps=1, grad_clip=norm / 10)
    history = train(model, causal_lm_loss, get_batch, cfg, progress=False)
    assert history["grad_norm"] == [pytest.approx(norm, rel=1e-5)]
    clipped = torch.cat([p.grad.flatten() for p in model.parameters()]).norm().item()
    assert clipped == pytest.approx(norm / 10, rel=1e-4)


def test_clip_gradients_equals_torch_clip_grad_norm_and_skips_frozen_parameters():
    ours, theirs = fresh_model(), fresh_model()
    for model in (ours, theirs):
        model.final_norm.weight.requires_grad_(False)   # frozen: no gradient to clip
        model.train()
        torch.manual_seed(0)
        causal_lm_loss(model, get_batch(0)).backward()
    norm = clip_gradients(ours, 0.5)
    expected = torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.5)
    assert norm.item() == pytest.approx(expected.item(), rel=1e-6) and norm.item() > 0.5
    assert ours.final_norm.weight.grad is None
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-6, atol=1e-9, msg=name)
    assert clip_gradients(ours, math.inf).item() == pytest.approx(0.5, rel=1e-5)


def test_clip_gradients_refuses_a_model_without_gradients():
    with pytest.raises(ValueError, match="no parameter has a gradient"):
        clip_gradients(fresh_model(), 1.0)


def test_the_loop_equals_torch_adamw_with_torch_clipping_and_schedule():
    """One run with minillm's optimizer, clipping and schedule; the same run with torch's."""
    cfg = TRAIN_CFG.replace(grad_clip=0.05, weight_decay=0.3)
    ours = fresh_model()
    train(ours, causal_lm_loss, get_batch, cfg, progress=False)
    theirs = fresh_model()
    torch.manual_seed(cfg.seed)
    params = list(theirs.parameters())
    optimizer = torch.optim.AdamW([{"params": [p for p in params if p.ndim >= 2],
                                    "weight_decay": cfg.weight_decay},
                                   {"params": [p for p in params if p.ndim < 2],
                                    "weight_decay": 0.0}], lr=cfg.lr, betas=cfg.betas)
    for step, lr in enumerate(torch_schedule(cfg)):
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad()
        causal_lm_loss(theirs, get_batch(step)).backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), cfg.grad_clip)
        optimizer.step()
    for name, value in ours.state_dict().items():
        torch.testing.assert_close(value, theirs.state_dict()[name], rtol=1e-4, atol=1e-5,
                                   msg=name)


def test_evaluation_does_not_change_the_training_run():
    def noisy_eval(model):
        torch.rand(100)  # an eval that draws random numbers must not shift dropout's draws
        return evaluate(model, causal_lm_loss, [get_batch(-1)])

    plain, evaluated = fresh_model(), fresh_model()
    train(plain, causal_lm_loss, get_batch, TRAIN_CFG, progress=False)
    train(evaluated, causal_lm_loss, get_batch, TRAIN_CFG, eval_fn=noisy_eval, progress=False)
    assert_same_weights(plain, evaluated)
    assert evaluated.training


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    """Dropout 0.2 makes the generator state matter; AdamW's moments and the schedule too."""
    uninterrupted = fresh_model()
    full = train(uninterrupted, causal_lm_loss, get_batch, TRAIN_CFG, progress=False)

    interrupted = fresh_model()
    train(interrupted, causal_lm_loss, get_batch, TRAIN_CFG, checkpoint_dir=tmp_path,
          stop_after=6, progress=False)
    del interrupted
    torch.manual_seed(999)  # whatever happens between the runs must not matter
    resumed, _, state = load_checkpoint(tmp_path)
    assert state["step"] == 6
    history = train(resumed, causal_lm_loss, get_batch, TRAIN_CFG, state=state,
                    checkpoint_dir=tmp_path, progress=False)
    assert_same_weights(uninterrupted, resumed)
    assert history["loss"] == full["loss"]
    assert load_checkpoint(tmp_path)[2]["step"] == 12


def test_without_dropout_state_the_resumed_run_would_differ(tmp_path):
    """The control for the test above: drop the saved generator state and the weights differ."""
    uninterrupted = fresh_model()
    train(uninterrupted, causal_lm_loss, get_batch, TRAIN_CFG, progress=False)
    interrupted = fresh_model()
    train(interrupted, causal_lm_loss, get_batch, TRAIN_CFG, checkpoint_dir=tmp_path,
          stop_after=6, progress=False)
    resumed, _, state = load_checkpoint(tmp_path)
    state["rng"] = None
    train(resumed, causal_lm_loss, get_batch, TRAIN_CFG, state=state, progress=False)
    assert not torch.equal(resumed.tok_emb.weight, uninterrupted.tok_emb.weight)


def test_resuming_needs_the_optimizer_state():
    with pytest.raises(ValueError, match="no optimizer state"):
        train(fresh_model(), causal_lm_loss, get_batch, TRAIN_CFG,
              state={"step": 3, "optimizer": None, "rng": None, "extra": {}}, progress=False)


def test_an_optimizer_state_saved_by_the_old_loop_is_refused_in_words(tmp_path):
    """Before the loop used minillm.optim.AdamW it saved torch.optim.AdamW's state (exp_avg,
    exp_avg_sq): resuming from it must fail with a reason, never carry on silently."""
    model = fresh_model()
    params = list(model.parameters())
    old = torch.optim.AdamW([{"params": [p for p in params if p.ndim >= 2]},
                             {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}],
                            lr=1e-2)
    causal_lm_loss(model, get_batch(0)).backward()
    old.step()
    save_checkpoint(tmp_path, model, model.cfg, old, step=1, extra={})
    resumed, _, state = load_checkpoint(tmp_path)
    with pytest.raises(ValueError, match=r"not minillm.optim.AdamW's.*exp_avg.*start afresh"):
        train(resumed, causal_lm_loss, get_batch, TRAIN_CFG, state=state, progress=False)


def test_a_loss_that_becomes_nan_stops_training_with_advice():
    def exploding(model, batch):
        return causal_lm_loss(model, batch) * float("nan")

    with pytest.raises(FloatingPointError, match="loss became nan at step 1.*Try a lower lr"):
        train(fresh_model(), exploding, get_batch, TRAIN_CFG, progress=False)


def test_a_nan_between_logs_stops_at_its_step_and_the_last_checkpoint_stays_finite(tmp_path):
    def nan_at_step_3(model, batch):
        loss = causal_lm_loss(model, batch)
        return loss * float("nan") if calls.append(1) or len(calls) == 3 else loss

    calls = []
    cfg = TRAIN_CFG.replace(eval_every=2, log_every=5)
    with pytest.raises(FloatingPointError, match="loss became nan at step 3"):
        train(fresh_model(), nan_at_step_3, get_batch, cfg, checkpoint_dir=tmp_path,
              progress=False)
    model, _, state = load_checkpoint(tmp_path)
    assert state["step"] == 2
    assert all(torch.isfinite(value).all() for value in model.state_dict().values())


def test_a_finite_loss_with_a_nan_gradient_stops_before_the_weights_change():
    def nan_gradient(model, batch):
        loss = causal_lm_loss(model, batch)
        loss.register_hook(lambda grad: grad * float("nan"))
        return loss

    model = fresh_model()
    before = {name: value.clone() for name, value in model.state_dict().items()}
    with pytest.raises(FloatingPointError, match=r"gradient norm became nan \(the loss was "
                                                 r"[0-9.]+\) at step 1"):
        train(model, nan_gradient, get_batch, TRAIN_CFG, progress=False)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_loss_fn_must_return_a_scalar():
    with pytest.raises(ValueError, match="scalar loss"):
        train(fresh_model(), lambda m, b: m(b[0])[0].mean(-1), get_batch, TRAIN_CFG,
              progress=False)


def test_callback_sees_every_step_and_progress_bar_runs(capsys):
    seen = []
    train(fresh_model(), causal_lm_loss, get_batch, TRAIN_CFG.replace(steps=3),
          callback=lambda step, history: seen.append((step, len(history["loss"]))))
    assert seen == [(1, 1), (2, 2), (3, 3)]
    assert "training" in capsys.readouterr().err


# ---- batches from an iterator --------------------------------------------------------------
def test_batches_by_step_walks_in_order_and_replays_after_a_restart():
    make_calls = []

    def make_batches():
        make_calls.append(1)
        return iter(range(100))

    get = batches_by_step(make_batches)
    assert [get(s) for s in range(5)] == [0, 1, 2, 3, 4] and len(make_calls) == 1
    resumed = batches_by_step(make_batches)
    assert [resumed(s) for s in (3, 4, 5)] == [3, 4, 5] and len(make_calls) == 2


def test_batches_by_step_says_when_the_batches_run_out():
    with pytest.raises(ValueError, match="ran out at step 3"):
        batches_by_step(lambda: iter(range(3)))(3)


def test_evaluating_is_eval_mode_without_gradients_that_gives_back_the_random_generators():
    model = fresh_model()
    before = torch.random.get_rng_state()
    with evaluating(model):
        assert not model.training and not torch.is_grad_enabled()
        torch.rand(3)
    assert model.training and torch.is_grad_enabled()
    assert torch.equal(torch.random.get_rng_state(), before)


def test_evaluate_is_the_mean_over_all_sequences_when_the_last_batch_is_smaller():
    model = fresh_model()
    x, y = get_batch(-1)
    whole = evaluate(model, causal_lm_loss, [(x, y)])
    ragged = [(x[:3], y[:3]), (x[3:], y[3:])]     # 3 rows, then 1
    assert len(x) == 4 and evaluate(model, causal_lm_loss, ragged) == pytest.approx(whole, rel=1e-5)
