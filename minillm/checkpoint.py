"""Checkpoints: a model's weights and config, and everything a training run needs to resume.

A checkpoint is a folder of plain, safe files (never pickle, so loading one cannot run code):

    model.safetensors        the weights, keyed like model.state_dict()
    config.json              {"model_class", "minillm_version", "step", "config", "extra"}
    optimizer.safetensors    the optimizer's tensors (AdamW's moments and step counts) ...
    optimizer.json           ... and the rest of its state (param_groups: lr, betas, eps, ...)
    rng.safetensors          the random number generators' states (dropout draws from them)

Resuming from a checkpoint continues a run exactly: the same weights, moments, step count and
dropout masks as if it had never stopped.
"""
from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import minillm
from minillm.config import TransformerConfig
from minillm.convert import state_dict_mismatches

# The model classes a checkpoint may name, and the modules that define them. They are looked up
# by name when a checkpoint is loaded, so a class added to one of these modules later just works.
MODEL_CLASSES = {
    "DecoderLM": "minillm.transformer",
    "Encoder": "minillm.transformer",
    "EncoderDecoder": "minillm.transformer",
    "MaskedLMModel": "minillm.objectives",
}


# ---- saving --------------------------------------------------------------------------------
def save_checkpoint(folder, model, model_cfg, optimizer=None, step=None, extra=None):
    """Write model (and optionally optimizer) to folder, creating it if needed. Returns the path.

    model_cfg: the TransformerConfig the model was built from; step: optimizer steps taken so far;
    extra: any JSON-serialisable dict (the trainer stores its history and TrainConfig there).
    The random number generators' states are saved too, so dropout continues where it stopped.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    header = {
        "model_class": type(model).__name__,
        "minillm_version": minillm.__version__,
        "step": step,
        "config": model_cfg.to_dict(),
        "extra": extra or {},
    }
    _write_json(folder / "config.json", header)
    _write_tensors(folder / "model.safetensors", model.state_dict())
    _write_tensors(folder / "rng.safetensors", rng_states())
    if optimizer is not None:
        tensors, rest = _split_optimizer_state(optimizer.state_dict())
        _write_tensors(folder / "optimizer.safetensors", tensors)
        _write_json(folder / "optimizer.json", rest)
    return folder


def _write_tensors(path, tensors):
    # Write to a temporary name and rename: a run killed mid-save leaves the old file intact.
    tensors = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, tmp, metadata={"format": "pt"})
    os.replace(tmp, path)


def _write_json(path, obj):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def _split_optimizer_state(state_dict):
    """optimizer.state_dict() -> (tensors {"state.<param index>.<name>": tensor}, JSON rest)."""
    tensors, rest = {}, {"param_groups": state_dict["param_groups"], "state": {}}
    for index, per_param in state_dict["state"].items():
        for name, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{name}"] = value
            else:
                rest["state"].setdefault(str(index), {})[name] = value
    return tensors, rest


def _join_optimizer_state(tensors, rest):
    """The inverse of _split_optimizer_state: a dict optimizer.load_state_dict() accepts."""
    state = {int(index): dict(values) for index, values in rest["state"].items()}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    # JSON turns tuples into lists; betas is the tuple that matters.
    groups = [{k: tuple(v) if k == "betas" else v for k, v in group.items()}
              for group in rest["param_groups"]]
    return {"state": state, "param_groups": groups}


# ---- random number generators --------------------------------------------------------------
def rng_states():
    """{"cpu": ByteTensor, and "cuda"/"mps" where present}: the global generators' positions."""
    states = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state()
    if torch.backends.mps.is_available():
        states["mps"] = torch.mps.get_rng_state()
    return states


def set_rng_states(states):
    """Put the global generators back where rng_states() found them."""
    torch.set_rng_state(states["cpu"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])
    if "mps" in states and torch.backends.mps.is_available():
        torch.mps.set_rng_state(states["mps"])


# ---- loading -------------------------------------------------------------------------------
def load_checkpoint(folder, model_class=None, device="cpu"):
    """Read a folder written by save_checkpoint. Returns (model, cfg, state).

    model_class: a class, or its name; default: the name config.json records.
    model: built from the config, weights loaded, on `device`, in eval mode.
    state: {"step": int or None, "optimizer": a state_dict for optimizer.load_state_dict or
    None, "rng": generator states or None, "extra": dict}.
    Raises ValueError for missing files, a truncated or corrupt file, an unknown model class,
    or a config.json that does not match the weights.
    """
    folder = Path(folder)
    header = _read_json(_require(folder, "config.json"))
    cfg = _config_from(header, folder / "config.json")
    cls = _model_class(model_class or header.get("model_class"), folder / "config.json")
    weights = _read_tensors(_require(folder, "model.safetensors"))
    model = cls(cfg)
    _check_weights_match(model, weights, folder)
    model.to(_floating_dtype(weights) or torch.get_default_dtype())
    model.load_state_dict(weights)
    state = {"step": header.get("step"), "extra": header.get("extra", {}),
             "optimizer": _read_optimizer(folder), "rng": None}
    if (folder / "rng.safetensors").exists():
        state["rng"] = _read_tensors(folder / "rng.safetensors")
    return model.to(device).eval(), cfg, state


def _require(folder, name):
    path = folder / name
    if not path.is_file():
        raise ValueError(f"{path} is missing: {folder} is not a complete minillm checkpoint "
                         "(save_checkpoint writes model.safetensors and config.json, and "
                         "optimizer.safetensors with optimizer.json when given an optimizer)")
    return path


def _read_json(path):
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is truncated or corrupt: it is not valid JSON "
                         f"({error})") from None


def _read_tensors(path):
    try:
        return load_file(path)
    except SafetensorError as error:
        raise ValueError(f"{path} is truncated or corrupt ({error}); "
                         "save the checkpoint again") from None


def _config_from(header, path):
    if not isinstance(header.get("config"), dict):
        raise ValueError(f"{path} has no 'config' entry: it was not written by save_checkpoint")
    try:
        return TransformerConfig(**header["config"])
    except TypeError as error:
        raise ValueError(f"{path}: 'config' is not a TransformerConfig ({error})") from None


def _model_class(name_or_class, path):
    if isinstance(name_or_class, type):
        return name_or_class
    module = MODEL_CLASSES.get(name_or_class)
    cls = getattr(importlib.import_module(module), name_or_class, None) if module else None
    if cls is None:
        known = ", ".join(name for name, mod in MODEL_CLASSES.items()
                          if hasattr(importlib.import_module(mod), name))
        raise ValueError(f"{path} names the model class {name_or_class!r}, which minillm does "
                         f"not have; known classes: {known}")
    return cls


def _check_weights_match(model, weights, folder):
    """Name every difference between the weights the config implies and those in the file."""
    problems = state_dict_mismatches(model, weights, source="the file")
    if problems:
        raise ValueError(f"{folder / 'config.json'} does not match {folder / 'model.safetensors'}"
                         f" ({type(model).__name__}): " + "; ".join(problems))


def _floating_dtype(weights):
    """The dtype the weights were saved in (float32, float64, bfloat16...), or None."""
    dtypes = {t.dtype for t in weights.values() if t.is_floating_point()}
    return dtypes.pop() if len(dtypes) == 1 else None


def _read_optimizer(folder):
    if not (folder / "optimizer.safetensors").exists():
        return None
    tensors = _read_tensors(folder / "optimizer.safetensors")
    rest = _read_json(_require(folder, "optimizer.json"))
    return _join_optimizer_state(tensors, rest)
