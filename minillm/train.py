"""The training loop: AdamW, warm-up + cosine learning rate, gradient clipping, evaluation, a
progress bar, a loss plot that redraws as it trains (minillm.viz.LivePlot), and checkpoints a
run can resume from.

The optimizer, the clipping and the schedule are the course's own (minillm.optim, the twin of
minillm.np.optim, proven equal to torch.optim there), so the loop runs the pieces a learner built.

One loop trains every model in the course. It asks for two functions:

    loss_fn(model, batch) -> scalar loss     (the objectives in minillm.objectives)
    get_batch(step) -> batch                 (the batch for optimizer step 0, 1, 2, ...)

The batches are a function of the step, not an iterator, so a run resumed from a checkpoint at
step 500 gets exactly the batches an uninterrupted run would (`batches_by_step` turns a seeded
iterator into such a function). Dropout draws from torch's global generator, whose state is
saved in every checkpoint, so a resumed run gives bit-identical weights on the CPU.
"""
from __future__ import annotations

import itertools
import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

import torch
from tqdm.auto import tqdm

from minillm import optim
from minillm.checkpoint import rng_states, save_checkpoint, set_rng_states
from minillm.config import check_int, check_number, check_probability
from minillm.generate import eval_mode
from minillm.viz import LivePlot, in_notebook, plot_history  # noqa: F401  (moved there)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run.

    steps:         optimizer steps in the whole run (the schedule spans them all).
    batch_size:    sequences per batch, for the batch function you build (the loop takes
                   whatever get_batch returns; it is here so one config describes the run).
    lr:            peak learning rate, reached at the end of warm-up.
    warmup_steps:  steps of linear warm-up from 0 at step 0 to lr at step warmup_steps
                   (0: start at lr).
    min_lr_ratio:  the cosine decay ends at lr * min_lr_ratio on the last step.
    weight_decay:  AdamW's decoupled weight decay, applied to matrices and embeddings only.
    betas:         AdamW's moment decay rates (GPT-style 0.95 for the second moment).
    grad_clip:     clip the gradient's global L2 norm to this (0 or None: no clipping).
    eval_every:    evaluate (and checkpoint, and redraw the plot) every this many steps.
    log_every:     record loss, lr and gradient norm every this many steps.
    seed:          seeds torch's global generator (dropout) when a run starts afresh.
    device:        "auto" (cuda, then mps, then cpu), or a device name such as "cpu".
    """

    steps: int = 500
    batch_size: int = 16
    lr: float = 1e-3
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    betas: tuple = (0.9, 0.95)
    grad_clip: float | None = 1.0
    eval_every: int = 100
    log_every: int = 1
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        for name in ("steps", "batch_size", "eval_every", "log_every"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("warmup_steps", self.warmup_steps, minimum=0)
        check_int("seed", self.seed)
        check_number("lr", self.lr, above=0)
        check_number("min_lr_ratio", self.min_lr_ratio, at_least=0)
        if self.min_lr_ratio > 1:
            raise ValueError(f"min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio}")
        check_number("weight_decay", self.weight_decay, at_least=0)
        if self.grad_clip is not None:   # a negative clip would turn descent into ascent
            check_number("grad_clip", self.grad_clip, at_least=0)
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {self.betas!r}")
        for name, beta in zip(("betas[0]", "betas[1]"), self.betas):
            check_probability(name, beta)

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed: `cfg.replace(lr=3e-4)`."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


# ---- the pieces of the loop ----------------------------------------------------------------
def pick_device(preference="auto"):
    """torch.device to train on: "auto" picks cuda, then mps (Apple), then cpu."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference)
    except RuntimeError:
        raise ValueError(f"unknown device {preference!r}: use 'auto', 'cpu', 'cuda' or "
                         "'mps'") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": torch.backends.mps.is_available()}
    if not available.get(device.type, False):
        raise ValueError(f"device {preference!r} is not available on this machine; "
                         "use 'auto' to pick the best one there is")
    return device


def lr_at(step, cfg):
    """Learning rate for optimizer step `step` (0-based): a linear warm-up from 0 at step 0 to
    cfg.lr at step cfg.warmup_steps, then half a cosine down to cfg.lr * cfg.min_lr_ratio at the
    last step, cfg.steps - 1. The formula is minillm.optim.lr_at's (see minillm.np.optim).

    Warm-up keeps the first updates small while AdamW's moment estimates are still noisy; the
    cosine lets the last steps settle into a minimum instead of bouncing around it.
    """
    return optim.lr_at(step, cfg.lr, cfg.warmup_steps, cfg.steps,
                       min_lr=cfg.lr * cfg.min_lr_ratio)


def make_optimizer(model, cfg):
    """minillm.optim.AdamW that decays only tensors with 2 or more dimensions, as nanoGPT does.

    Decayed: weight matrices and embedding tables (which, tied, are also the output matrix).
    Not decayed: biases and norm gains (1-D). Pulling a norm's gain towards 0 would only shrink
    the signal it passes on, and a bias cannot make the model overfit by growing large.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    return optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr, betas=tuple(cfg.betas))


def to_device(batch, device):
    """The batch (a tensor, or a tuple/list/dict of them) with every tensor moved to device."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


@contextmanager
def evaluating(model):
    """minillm.generate.eval_mode (eval mode: no dropout; then the model's own mode back) and no
    gradients; afterwards torch's random generators are as they were too, so evaluating never
    changes what training does next. (Generation keeps the generators' draws: eval_mode alone.)"""
    saved = rng_states()
    try:
        with eval_mode(model), torch.no_grad():
            yield
    finally:
        set_rng_states(saved)


def evaluate(model, loss_fn, batches):
    """The mean of loss_fn(model, batch) over batches (a list), in eval mode without gradients,
    each batch weighted by its number of rows (sequences), so that a smaller last batch (as
    `eval_windows` makes) counts for what it holds: the mean over all the sequences.

    Use it as train's eval_fn: `eval_fn=lambda m: evaluate(m, causal_lm_loss, valid_batches)`.
    """
    if not batches:
        raise ValueError("evaluate needs at least one batch")
    device = next(model.parameters()).device
    with evaluating(model):
        losses = [float(loss_fn(model, to_device(batch, device))) for batch in batches]
    rows = [_rows(batch) for batch in batches]
    return sum(loss * n for loss, n in zip(losses, rows)) / sum(rows)


def _rows(batch):
    """How many sequences a batch holds: the length of its first tensor."""
    if isinstance(batch, dict):
        batch = list(batch.values())
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return len(first)


def batches_by_step(make_batches):
    """get_batch(step) for `train`, made from a seeded iterator of batches.

    make_batches: a function with no arguments that returns a fresh iterator yielding the same
    batches every time, e.g. `lambda: causal_lm_batches(ids, 64, 16, seed=0)`. Asking for the
    steps in order walks one iterator; asking for any other step (as a resumed run does) starts
    a fresh iterator and skips ahead to that step.
    """
    return _BatchesByStep(make_batches)


class _BatchesByStep:
    def __init__(self, make_batches):
        self.make_batches = make_batches
        self.iterator, self.position = None, None

    def __call__(self, step):
        if step != self.position:
            self.iterator = itertools.islice(self.make_batches(), step, None)
        batch = next(self.iterator, None)
        if batch is None:
            raise ValueError(f"the batches ran out at step {step}: make_batches must yield at "
                             "least cfg.steps batches")
        self.position = step + 1
        return batch


# ---- the loop ------------------------------------------------------------------------------
def train(model, loss_fn, get_batch, cfg, eval_fn=None, state=None, checkpoint_dir=None,
          stop_after=None, callback=None, plot=False, progress=True):
    """Train model for cfg.steps optimizer steps (from state["step"] when resuming).

    loss_fn(model, batch) -> scalar loss, e.g. minillm.objectives.causal_lm_loss.
    get_batch(step) -> the batch for step 0, 1, ... (moved to the device here).
    eval_fn(model) -> validation loss (see `evaluate`), run every cfg.eval_every steps and at
        the end; its perplexity exp(loss) is recorded too.
    state: the third value of load_checkpoint, to resume where that checkpoint left off.
    checkpoint_dir: save a checkpoint there at every evaluation and when the loop stops (with
        model.cfg, the TransformerConfig every minillm model keeps).
    stop_after: stop once this many steps are done, as an interruption would; the learning rate
        schedule still spans cfg.steps.
    callback(step, history): called after every step, to draw or print something of your own.
    plot: redraw a loss plot in Jupyter at every evaluation. progress: show a tqdm bar.

    Returns the history, lists of plain numbers: "step", "loss", "lr", "grad_norm" every
    cfg.log_every steps ("step" counts steps done; "grad_norm" is measured before clipping),
    and "eval_step", "eval_loss", "eval_ppl" at every evaluation.
    Raises FloatingPointError as soon as the loss or the gradient norm is nan or infinite, at
    any step, before that step changes the weights (see check_finite).
    """
    device = pick_device(cfg.device)
    model.to(device).train()
    optimizer = make_optimizer(model, cfg)
    start, history = _start(optimizer, cfg, state)
    stop = cfg.steps if stop_after is None else min(stop_after, cfg.steps)
    live_plot = LivePlot() if plot else None
    bar = tqdm(range(start, stop), initial=start, total=stop, desc="training",
               disable=not progress)
    for step in bar:
        batch = to_device(get_batch(step), device)
        loss, grad_norm, lr = _train_step(model, loss_fn, batch, optimizer, cfg, step)
        done = step + 1
        if done % cfg.log_every == 0 or done == stop:
            _log(history, done, loss, lr, grad_norm)
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", lr=f"{lr:.1e}", refresh=False)
        if done % cfg.eval_every == 0 or done == stop:
            _evaluate_and_save(model, eval_fn, optimizer, cfg, history, done, checkpoint_dir)
            if live_plot:
                live_plot.update(history)
        if callback:
            callback(done, history)
    return history


def _empty_history():
    keys = ("step", "loss", "lr", "grad_norm", "eval_step", "eval_loss", "eval_ppl")
    return {key: [] for key in keys}


def _start(optimizer, cfg, state):
    """(first step, history): step 0 with a seeded generator, or where the checkpoint stopped."""
    if state is None:
        torch.manual_seed(cfg.seed)
        return 0, _empty_history()
    if state.get("optimizer") is None:
        raise ValueError("this checkpoint holds no optimizer state, so training cannot resume "
                         "from it; call train without state= to start afresh from its weights")
    _load_optimizer_state(optimizer, state["optimizer"])
    if state.get("rng") is not None:
        set_rng_states(state["rng"])
    saved = state.get("extra", {}).get("history") or _empty_history()
    return state["step"], {key: list(values) for key, values in saved.items()}


def _load_optimizer_state(optimizer, saved):
    """optimizer.load_state_dict(saved), refused in words when saved belongs to another model
    (other parameter groups, or moments of other shapes than the parameters) or to another
    optimizer (torch.optim.AdamW's exp_avg/exp_avg_sq, which minillm's loop used before it
    trained with minillm.optim.AdamW: step, m, v)."""
    for index, per_param in saved.get("state", {}).items():
        names = set(per_param)
        if names != set(optim.ADAMW_STATE):
            raise ValueError(
                f"the checkpoint's optimizer state is not minillm.optim.AdamW's: parameter "
                f"{index} holds {sorted(names)}, expected {sorted(optim.ADAMW_STATE)}"
                + (" (torch.optim.AdamW's moments, saved by minillm's training loop before it "
                   "used minillm.optim.AdamW and a warm-up from 0); resuming it would not "
                   "continue that run, so start afresh (train without state=, or the CLI "
                   "without --resume)" if "exp_avg" in names else ""))
    try:
        optimizer.load_state_dict(saved)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"the checkpoint's optimizer state does not fit this model's "
                         f"parameters ({error})") from None
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for param in params:
        for name, value in optimizer.state.get(param, {}).items():
            if isinstance(value, torch.Tensor) and value.ndim and value.shape != param.shape:
                raise ValueError(f"the checkpoint's optimizer state does not fit this model: "
                                 f"its {name} has shape {tuple(value.shape)} for a parameter "
                                 f"of shape {tuple(param.shape)}")


def _train_step(model, loss_fn, batch, optimizer, cfg, step):
    """One update: forward, backward, clip, AdamW step. Returns (loss, grad norm, lr)."""
    lr = lr_at(step, cfg)
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = loss_fn(model, batch)
    if loss.ndim != 0:
        raise ValueError(f"loss_fn must return a scalar loss, got shape {tuple(loss.shape)}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = clip_gradients(model, cfg.grad_clip or math.inf)
    check_finite(loss.detach(), grad_norm, step + 1)   # before the step can spoil the weights
    optimizer.step()
    return loss.detach(), grad_norm, lr


def clip_gradients(model, max_norm):
    """Clip the gradients of model's parameters together to L2 norm max_norm with
    minillm.optim.clip_grad_norm, in place (p.grad is replaced), and return the norm measured
    before clipping, a 0-d tensor. max_norm=math.inf measures the norm without clipping.
    Parameters without a gradient (frozen, or unused by this batch) are left out."""
    params = {name: p for name, p in model.named_parameters() if p.grad is not None}
    if not params:
        raise ValueError("no parameter has a gradient to clip: does loss_fn use the model, "
                         "and does any parameter have requires_grad=True?")
    clipped, total_norm = optim.clip_grad_norm({name: p.grad for name, p in params.items()},
                                               max_norm)
    for name, p in params.items():
        p.grad = clipped[name]
    return total_norm


def check_finite(loss, grad_norm, done):
    """Raise FloatingPointError if the loss or the gradient's norm is nan or infinite, saying
    what to change. One check of the two numbers per step: a single nan anywhere in the
    gradient makes its norm nan, so no weight is ever updated with (or saved holding) one."""
    if bool(torch.isfinite(loss) & torch.isfinite(grad_norm)):
        return
    what = (f"the loss became {loss.item()}" if not torch.isfinite(loss) else
            f"the gradient norm became {grad_norm.item()} (the loss was {loss.item():.4g})")
    raise FloatingPointError(f"{what} at step {done}; training stopped before that step "
                             "changed the weights. Try a lower lr, a longer warm-up or a "
                             "smaller grad_clip")


def _log(history, done, loss, lr, grad_norm):
    history["step"].append(done)
    history["loss"].append(loss.item())
    history["lr"].append(lr)
    history["grad_norm"].append(grad_norm.item())


def _evaluate_and_save(model, eval_fn, optimizer, cfg, history, done, checkpoint_dir):
    if eval_fn is not None:
        with evaluating(model):
            eval_loss = float(eval_fn(model))
        history["eval_step"].append(done)
        history["eval_loss"].append(eval_loss)
        history["eval_ppl"].append(math.exp(min(eval_loss, 700.0)))  # exp overflows past ~709
    if checkpoint_dir is not None:
        save_checkpoint(checkpoint_dir, model, model.cfg, optimizer, step=done,
                        extra={"history": history, "train_config": cfg.to_dict()})
