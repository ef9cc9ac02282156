"""Hostile inputs: every bad setting, file or tensor fails with one ValueError that names what
was expected, at the place it is given, not with a traceback from deep inside torch or NumPy
(or, where a sensible answer exists, gives it). Grouped by the class of the issue that found them.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import minillm.np as mnp
from minillm import DecoderLM, Encoder, TransformerConfig
from minillm.checkpoint import load_checkpoint, save_checkpoint
from minillm.train import TrainConfig

SMALL = TransformerConfig.tiny(vocab_size=20, d_model=16, n_heads=2, d_ff=32, max_seq_len=8)


def cases(table):
    """pytest.param(value, match, id=...) for a {id: (value, match)} table."""
    return [pytest.param(*value, id=name) for name, value in table.items()]


# ---- class 4: every setting range-checked where it is defined --------------------------------
MODEL_SETTINGS = {
    "norm_eps=0": ({"norm_eps": 0.0}, "norm_eps must be greater than 0"),
    "norm_eps<0": ({"norm_eps": -1e-5}, "norm_eps must be greater than 0"),
    "norm_eps=nan": ({"norm_eps": math.nan}, "norm_eps must be a finite number"),
    "norm_eps=inf": ({"norm_eps": math.inf}, "norm_eps must be a finite number"),
    "norm_eps=str": ({"norm_eps": "1e-5"}, "norm_eps must be a number"),
    "rope_base=0": ({"rope_base": 0.0}, "rope_base must be greater than 0"),
    "rope_base<0": ({"rope_base": -10000.0}, "rope_base must be greater than 0"),
    "rope_base=nan": ({"rope_base": math.nan}, "rope_base must be a finite number"),
    "d_model=float": ({"d_model": 16.0}, r"d_model must be an integer, got 16.0 \(float\)"),
    "n_layers=float": ({"n_layers": 2.5}, "n_layers must be an integer"),
    "vocab_size=bool": ({"vocab_size": True}, "vocab_size must be an integer"),
    "max_seq_len=str": ({"max_seq_len": "8"}, "max_seq_len must be an integer"),
    "d_ff=0": ({"d_ff": 0}, "d_ff must be a positive integer"),
    "n_heads=-2": ({"n_heads": -2}, "n_heads must be a positive integer"),
    "n_segments=-1": ({"n_segments": -1}, "n_segments must be an integer of at least 0"),
    "n_segments=float": ({"n_segments": 2.0}, "n_segments must be an integer"),
    "dropout=1": ({"dropout": 1.0}, r"dropout must lie in \[0, 1\)"),
    "dropout<0": ({"dropout": -0.1}, r"dropout must lie in \[0, 1\)"),
    "dropout=nan": ({"dropout": math.nan}, "dropout must be a finite number"),
    "dropout=str": ({"dropout": "0.1"}, "dropout must be a number"),
    "bias=str": ({"bias": "False"}, "bias must be True or False"),
    "norm_first=1": ({"norm_first": 1}, "norm_first must be True or False"),
    "tie_embeddings=None": ({"tie_embeddings": None}, "tie_embeddings must be True or False"),
    "embedding_norm=str": ({"embedding_norm": "yes"}, "embedding_norm must be True or False"),
}


@pytest.mark.parametrize("changes, match", cases(MODEL_SETTINGS))
def test_transformer_config_refuses(changes, match):
    with pytest.raises(ValueError, match=match):
        SMALL.replace(**changes)


TRAIN_SETTINGS = {
    "grad_clip<0": ({"grad_clip": -1.0}, "grad_clip must be 0 or more"),
    "grad_clip=nan": ({"grad_clip": math.nan}, "grad_clip must be a finite number"),
    "weight_decay<0": ({"weight_decay": -0.1}, "weight_decay must be 0 or more"),
    "weight_decay=nan": ({"weight_decay": math.nan}, "weight_decay must be a finite number"),
    "beta1=1": ({"betas": (1.0, 0.95)}, r"betas\[0\] must lie in \[0, 1\)"),
    "beta2<0": ({"betas": (0.9, -0.5)}, r"betas\[1\] must lie in \[0, 1\)"),
    "beta2=nan": ({"betas": (0.9, math.nan)}, r"betas\[1\] must be a finite number"),
    "betas=3": ({"betas": (0.9, 0.95, 0.99)}, r"betas must be a pair"),
    "betas=number": ({"betas": 0.9}, r"betas must be a pair"),
    "lr=nan": ({"lr": math.nan}, "lr must be a finite number"),
    "lr=inf": ({"lr": math.inf}, "lr must be a finite number"),
    "lr=0": ({"lr": 0.0}, "lr must be greater than 0"),
    "lr=str": ({"lr": "3e-4"}, "lr must be a number"),
    "warmup<0": ({"warmup_steps": -1}, "warmup_steps must be an integer of at least 0"),
    "warmup=float": ({"warmup_steps": 5.5}, "warmup_steps must be an integer"),
    "steps=float": ({"steps": 100.0}, "steps must be an integer"),
    "steps=0": ({"steps": 0}, "steps must be a positive integer"),
    "batch_size=float": ({"batch_size": 8.0}, "batch_size must be an integer"),
    "log_every=0": ({"log_every": 0}, "log_every must be a positive integer"),
    "eval_every=None": ({"eval_every": None}, "eval_every must be an integer"),
    "seed=float": ({"seed": 0.5}, "seed must be an integer"),
    "min_lr_ratio=nan": ({"min_lr_ratio": math.nan}, "min_lr_ratio must be a finite number"),
    "min_lr_ratio>1": ({"min_lr_ratio": 1.5}, r"min_lr_ratio must lie in \[0, 1\]"),
}


@pytest.mark.parametrize("changes, match", cases(TRAIN_SETTINGS))
def test_train_config_refuses(changes, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**changes)


def test_grad_clip_none_and_zero_still_mean_no_clipping():
    assert TrainConfig(grad_clip=None).grad_clip is None
    assert TrainConfig(grad_clip=0).grad_clip == 0


def saved(folder, model=None, cfg=SMALL):
    torch.manual_seed(0)
    model = DecoderLM(cfg) if model is None else model
    save_checkpoint(folder, model, cfg, step=1)
    return folder


def edit_header(folder, edit):
    path = folder / "config.json"
    header = json.loads(path.read_text())
    edit(header)
    path.write_text(json.dumps(header))


@pytest.mark.parametrize("field", ["norm_eps", "rope_base", "tie_embeddings", "dropout"])
def test_load_refuses_a_config_json_with_a_missing_field_and_names_it(tmp_path, field):
    edit_header(saved(tmp_path), lambda header: header["config"].pop(field))
    with pytest.raises(ValueError, match=f"lacks the TransformerConfig fields {field}"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("field, value, match", [
    ("norm_eps", -1.0, "norm_eps must be greater than 0"),
    ("d_model", 16.5, "d_model must be an integer"),
    ("dropout", 2.0, r"dropout must lie in \[0, 1\)"),
])
def test_load_refuses_a_config_json_with_a_value_out_of_range(tmp_path, field, value, match):
    edit_header(saved(tmp_path), lambda header: header["config"].update({field: value}))
    with pytest.raises(ValueError, match=f"'config' is not a TransformerConfig .*{match}"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("asked", [Encoder, "Encoder", "MaskedLMModel"])
def test_load_refuses_a_decoder_checkpoint_asked_for_as_another_class(tmp_path, asked):
    saved(tmp_path)
    with pytest.raises(ValueError, match="holds a DecoderLM, not a"):
        load_checkpoint(tmp_path, model_class=asked)


def test_save_refuses_a_config_that_is_not_the_models(tmp_path):
    with pytest.raises(ValueError, match=r"model_cfg is not the config this DecoderLM was built "
                                         r"from: d_ff=64 \(the model has 32\)"):
        save_checkpoint(tmp_path, DecoderLM(SMALL), SMALL.replace(d_ff=64))
    assert not tmp_path.joinpath("config.json").exists()


def test_save_refuses_a_config_that_is_not_a_transformer_config(tmp_path):
    with pytest.raises(ValueError, match="model_cfg must be a TransformerConfig, got dict"):
        save_checkpoint(tmp_path, DecoderLM(SMALL), SMALL.to_dict())


def test_a_config_json_that_is_not_an_object_is_refused(tmp_path):
    (saved(tmp_path) / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="holds a JSON list, not the object"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, bool])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_numpy_gelu_on_integers_equals_gelu_on_the_same_floats(dtype, approximate):
    x = np.array([0, 1, 2, 100, 127], dtype=dtype)
    expected = mnp.gelu(x.astype(np.float64), approximate)
    assert np.array_equal(mnp.gelu(x, approximate), expected)
    assert np.array_equal(mnp.gelu_backward(np.ones(5), x, approximate),
                          mnp.gelu_backward(np.ones(5), x.astype(np.float64), approximate))
