"""Checkpoints: a model's weights and config, and everything a training run needs to resume.

A checkpoint is a folder of plain, safe files (never pickle, so loading one cannot run code):

    model.safetensors        the weights, keyed like model.state_dict()
    config.json              {"model_class", "minillm_version", "step", "config", "extra",
                              "save_id", "sha256": {file name: the sha256 of its bytes}}
    optimizer.safetensors    the optimizer's tensors (AdamW's moments and step counts) ...
    optimizer.json           ... and the rest of its state (param_groups: lr, betas, eps, ...)
    rng.safetensors          the random number generators' states (dropout draws from them)

Resuming from a checkpoint continues a run exactly: the same weights, moments, step count and
dropout masks as if it had never stopped.

Saving is all or nothing: config.json is written last and records the sha256 of every other
file, so a save stopped at any moment (an error, Ctrl-C, a kill) leaves the previous checkpoint
or the new one, and load_checkpoint never mixes files from two saves (see _commit).

Whether a state dict fits a model, with every mismatch named: `state_dict_mismatches`, and
`load_into`, which loads one strictly (the converters in `minillm.convert` use it too).
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import uuid
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import nn

try:
    import fcntl
except ImportError:   # Windows
    fcntl = None

import minillm
from minillm.config import OMITTED_WHEN_DEFAULT, TransformerConfig
from minillm.files import atomic_write, sync_folder, temporary_name, write_durably

# The model classes a checkpoint may name, and the modules that define them. They are looked up
# by name when a checkpoint is loaded, so a class added to one of these modules later just works.
MODEL_CLASSES = {
    "DecoderLM": "minillm.transformer",
    "Encoder": "minillm.transformer",
    "EncoderDecoder": "minillm.transformer",
    "MaskedLMModel": "minillm.objectives",
}
# Every file save_checkpoint may write besides config.json.
CHECKPOINT_FILES = ("model.safetensors", "rng.safetensors", "optimizer.safetensors",
                    "optimizer.json")


# ---- does a state dict fit a model? -------------------------------------------------------
def load_into(module: nn.Module, state_dict: dict, assign: bool = False) -> nn.Module:
    """Load state_dict (tensors or NumPy arrays) into module, strictly; returns the module.

    Missing keys, unexpected keys and shape mismatches raise one ValueError that lists them all:
    a checkpoint that does not fit must never load silently. Values are cast to the module's dtype.
    assign=True: the module takes the given tensors themselves (no copy, their dtype kept), for a
    module built on the "meta" device, which holds no memory and skips the random initialisation.
    """
    given = {name: torch.as_tensor(value) for name, value in state_dict.items()}
    problems = state_dict_mismatches(module, given)
    if problems:
        raise ValueError(f"the state dict does not fit this {type(module).__name__}:\n  "
                         + "\n  ".join(problems))
    module.load_state_dict(given, strict=True, assign=assign)
    return module


def state_dict_mismatches(module: nn.Module, state_dict: dict, source="the state dict"):
    """Every way state_dict (name -> tensor) does not fit module's parameters and buffers, as
    sentences naming the weights (missing, unexpected, wrong shape); [] when it fits."""
    expected = {name: tuple(t.shape) for name, t in module.state_dict().items()}
    found = {name: tuple(t.shape) for name, t in state_dict.items()}
    problems = []
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing:
        problems.append(f"missing from {source}: {', '.join(missing)}")
    if unexpected:
        problems.append(f"in {source} but not in the model: {', '.join(unexpected)}")
    for name in sorted(set(expected) & set(found)):
        if expected[name] != found[name]:
            problems.append(f"{name} has shape {found[name]} in {source} but {expected[name]} "
                            "in the model")
    return problems


# ---- saving --------------------------------------------------------------------------------
def save_checkpoint(folder, model, model_cfg, optimizer=None, step=None, extra=None):
    """Write model (and optionally optimizer) to folder, creating it if needed. Returns the path.

    model_cfg: the TransformerConfig the model was built from; step: optimizer steps taken so far;
    extra: any JSON-serialisable dict (the trainer stores its history and TrainConfig there).
    The random number generators' states are saved too, so dropout continues where it stopped.

    All or nothing: whenever the save is stopped (an error, Ctrl-C, a kill), load_checkpoint
    finds the previous checkpoint or this one, never a mix, and two saves into one folder at
    once cannot mix their files either (see _commit).
    """
    folder = Path(folder)
    _check_config_is_the_models(model, model_cfg)
    files = {"model.safetensors": _tensor_bytes(model.state_dict()),
             "rng.safetensors": _tensor_bytes(rng_states())}
    if optimizer is not None:
        tensors, rest = _split_optimizer_state(optimizer.state_dict())
        files["optimizer.safetensors"] = _tensor_bytes(tensors)
        files["optimizer.json"] = json.dumps(rest, indent=2).encode("utf-8")
    header = {
        "model_class": type(model).__name__,
        "minillm_version": minillm.__version__,
        "step": step,
        "config": model_cfg.to_dict(),
        "extra": extra or {},
        "save_id": uuid.uuid4().hex,
        "sha256": {name: _sha256(data) for name, data in files.items()},
    }
    header_bytes = json.dumps(header, indent=2).encode("utf-8")   # fails before writing a file
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder, exclusive=True):
        _commit(folder, files, header_bytes, header["save_id"])
    return folder


def _check_config_is_the_models(model, model_cfg):
    """model_cfg must be a TransformerConfig, and the model's own (model.cfg) where it has one:
    config.json would otherwise describe another model than the weights."""
    if not isinstance(model_cfg, TransformerConfig):
        raise ValueError(f"model_cfg must be a TransformerConfig, got "
                         f"{type(model_cfg).__name__}")
    own = getattr(model, "cfg", None)
    if isinstance(own, TransformerConfig) and own != model_cfg:
        differ = [f"{name}={value!r} (the model has {getattr(own, name)!r})"
                  for name, value in model_cfg.to_dict().items() if getattr(own, name) != value]
        raise ValueError(f"model_cfg is not the config this {type(model).__name__} was built "
                         f"from: {', '.join(differ)}")


def _commit(folder, files, header_bytes, save_id):
    """Write {name: bytes} and config.json so that a reader sees the old checkpoint or the new:

    1. every file is written under a pending name, .NAME.SAVE_ID.tmp, and flushed to the disk;
    2. config.json, which records each file's sha256, replaces the old one: the commit point;
    3. the pending files are renamed to their real names.
    A save stopped in 1 leaves the old checkpoint as it was (its pending files are removed);
    one stopped in 3 leaves pending files that load_checkpoint reads in place of the old ones
    still under the real names (the sha256 in config.json tells which is which).
    """
    pending = {name: temporary_name(folder / name, save_id) for name in files}
    try:
        for name, data in files.items():
            write_durably(pending[name], data)
        sync_folder(folder)
    except BaseException:
        for path in pending.values():
            path.unlink(missing_ok=True)
        raise
    atomic_write(folder / "config.json", header_bytes)
    for name, path in pending.items():
        os.replace(path, folder / name)
    _remove_leftovers(folder, keep=set(files))
    sync_folder(folder)


def _remove_leftovers(folder, keep):
    """Delete what an earlier, stopped save left behind, and the optimizer files of an earlier
    save when this one has no optimizer (they would no longer match the weights)."""
    for name in set(CHECKPOINT_FILES) - keep:
        (folder / name).unlink(missing_ok=True)
    for name in CHECKPOINT_FILES + ("config.json",):
        for path in folder.glob(f".{name}.*.tmp"):
            path.unlink(missing_ok=True)


@contextmanager
def _locked(folder, exclusive):
    """Hold an advisory lock on folder: a save excludes other saves and loads, loads share it.
    Where the system has no flock (Windows) nothing is locked; the sha256 check still refuses
    a mix."""
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        except OSError:   # a file system without locks (some network ones): the hashes remain
            pass
        yield
    finally:
        os.close(fd)   # closing releases the lock


def _tensor_bytes(tensors):
    """{name: tensor} -> the bytes of a safetensors file."""
    tensors = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    return save(tensors, metadata={"format": "pt"})


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


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
    try:
        torch.set_rng_state(states["cpu"])
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"the saved cpu generator state is not one torch.get_rng_state() "
                         f"gives ({error})") from None
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
    Raises ValueError for missing files, a truncated or corrupt file (or one from another
    save: each file's sha256 is checked against config.json), an unknown model class or one
    other than the saved class, or a config.json that lacks a field or does not match the
    weights.
    """
    folder = Path(folder)
    config_path = _require(folder, "config.json")
    with _locked(folder, exclusive=False):   # never in the middle of a save
        header = _read_json(config_path)
        if not isinstance(header, dict):
            raise ValueError(f"{config_path} holds a JSON {type(header).__name__}, not the "
                             "object save_checkpoint writes")
        files = _read_files(folder, header)
    cfg = _config_from(header, config_path)
    cls = _checkpoint_class(header.get("model_class"), model_class, config_path)
    weights = _tensors_from(files["model.safetensors"], folder / "model.safetensors")
    model = cls(cfg)
    _check_weights_match(model, weights, folder)
    model.to(_floating_dtype(weights) or torch.get_default_dtype())
    model.load_state_dict(weights)
    state = {"step": header.get("step"), "extra": header.get("extra", {}),
             "optimizer": _optimizer_from(files, folder), "rng": None}
    if "rng.safetensors" in files:
        state["rng"] = _rng_from(files, folder)
    return model.to(device).eval(), cfg, state


def _read_files(folder, header):
    """{file name: bytes} of the checkpoint's files besides config.json, each checked against
    the sha256 config.json records. Checkpoints written before minillm recorded hashes (no
    "sha256" entry) are read as they are: model.safetensors, and the others where present."""
    hashes = header.get("sha256")
    if hashes is None:
        names = ["model.safetensors"] + [name for name in CHECKPOINT_FILES[1:]
                                         if (folder / name).is_file()]
        if "optimizer.safetensors" in names:
            _require(folder, "optimizer.json")
        return {name: _require(folder, name).read_bytes() for name in names}
    if (not isinstance(hashes, dict) or "model.safetensors" not in hashes
            or not set(hashes) <= set(CHECKPOINT_FILES)):
        raise ValueError(f"{folder / 'config.json'} has a malformed 'sha256' entry: expected "
                         f"{{file name: hash}} naming model.safetensors, got {hashes!r}")
    return {name: _verified_bytes(folder, name, expected, header.get("save_id"))
            for name, expected in hashes.items()}


def _verified_bytes(folder, name, expected, save_id):
    """The bytes of folder/name whose sha256 is `expected`: the file itself, or the pending copy
    a save stopped between its commit and its last rename left behind (see _commit)."""
    candidates = [folder / name]
    if isinstance(save_id, str):
        candidates.append(temporary_name(folder / name, save_id))
    present = [path for path in candidates if path.is_file()]
    if not present:
        _require(folder, name)
    for path in present:
        data = path.read_bytes()
        if _sha256(data) == expected:
            return data
    raise ValueError(f"{folder / name} is truncated or corrupt: its sha256 differs from the one "
                     f"{folder / 'config.json'} recorded when the checkpoint was saved (the "
                     "file was changed or cut short since); save the checkpoint again")


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


def _tensors_from(data, path):
    """{name: tensor} from the bytes of the safetensors file at path."""
    try:
        return load(data)
    except SafetensorError as error:
        raise ValueError(f"{path} is truncated or corrupt ({error}); "
                         "save the checkpoint again") from None


def _config_from(header, path):
    """The TransformerConfig in config.json: every field present (a missing one is not filled
    with its default, which could build another model than the one saved), except those that
    to_dict leaves out while they hold their default (OMITTED_WHEN_DEFAULT)."""
    if not isinstance(header.get("config"), dict):
        raise ValueError(f"{path} has no 'config' entry: it was not written by save_checkpoint")
    missing = [f.name for f in fields(TransformerConfig)
               if f.name not in header["config"] and f.name not in OMITTED_WHEN_DEFAULT]
    if missing:
        raise ValueError(f"{path}: 'config' lacks the TransformerConfig fields "
                         f"{', '.join(missing)}; save the checkpoint again")
    try:
        return TransformerConfig(**header["config"])
    except (TypeError, ValueError) as error:
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


def _checkpoint_class(saved, asked, path):
    """The class to build: the one load_checkpoint was asked for, which must be the saved one
    (or a subclass of it), else the class config.json names."""
    if asked is None:
        return _model_class(saved, path)
    cls = _model_class(asked, path)
    if saved is not None and not issubclass(cls, _model_class(saved, path)):
        raise ValueError(f"{path} holds a {saved}, not a {cls.__name__}: load it without "
                         f"model_class, or as {saved}")
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


def _optimizer_from(files, folder):
    """The optimizer's state_dict from its two files, or None when the checkpoint has none."""
    if "optimizer.safetensors" not in files:
        return None
    tensors = _tensors_from(files["optimizer.safetensors"], folder / "optimizer.safetensors")
    if "optimizer.json" not in files:
        _require(folder, "optimizer.json")
    path = folder / "optimizer.json"
    try:
        rest = json.loads(files["optimizer.json"])
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is truncated or corrupt: it is not valid JSON "
                         f"({error})") from None
    try:
        return _join_optimizer_state(tensors, rest)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"{path} and optimizer.safetensors are corrupt: they are not the "
                         "state save_checkpoint writes (JSON with 'param_groups' and 'state', "
                         f"tensors named state.<index>.<name>): {error!r}") from None


def _rng_from(files, folder):
    """The generator states in rng.safetensors: a "cpu" state (a 1-D uint8 tensor, as
    torch.get_rng_state gives) and optionally "cuda" and "mps" ones."""
    path = folder / "rng.safetensors"
    states = _tensors_from(files["rng.safetensors"], path)
    if "cpu" not in states:
        raise ValueError(f"{path} is corrupt: it holds no 'cpu' generator state")
    for name, state in states.items():
        if state.dtype != torch.uint8 or state.ndim != 1:
            raise ValueError(f"{path} is corrupt: the {name!r} generator state must be a 1-D "
                             f"uint8 tensor, got {state.dtype} of shape {tuple(state.shape)}")
    return states
