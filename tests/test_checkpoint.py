"""Checkpoints: weights, config, optimizer and generator states survive a round trip through
plain safetensors + JSON files, and every broken checkpoint fails with a sentence naming why."""
from __future__ import annotations

import json

import pytest
import torch
from _helpers import assert_close

import minillm.transformer
from minillm import DecoderLM, Encoder, TransformerConfig
from minillm.checkpoint import load_checkpoint, rng_states, save_checkpoint, set_rng_states
from minillm.objectives import MaskedLMModel

CFG = TransformerConfig.tiny(vocab_size=50, d_model=16, n_heads=2, d_ff=32, max_seq_len=12)
IDS = torch.tensor([[1, 5, 9, 2, 7], [3, 3, 8, 0, 4]])


def trained_optimizer(model):
    """An AdamW that has taken two steps, so its moments are not zeros."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(2):
        optimizer.zero_grad()
        model(IDS)[0].square().mean().backward()
        optimizer.step()
    return optimizer


@pytest.mark.parametrize("cls", [DecoderLM, Encoder, MaskedLMModel])
def test_round_trip_restores_model_config_and_outputs(tmp_path, cls):
    torch.manual_seed(0)
    model = cls(CFG).eval()
    save_checkpoint(tmp_path, model, CFG, step=7, extra={"note": "hello"})
    loaded, cfg, state = load_checkpoint(tmp_path)
    assert type(loaded) is cls and cfg == CFG
    assert state["step"] == 7 and state["extra"] == {"note": "hello"}
    assert state["optimizer"] is None
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    assert torch.equal(loaded(IDS)[0], model(IDS)[0])


def test_grouped_query_attention_round_trips_and_plain_configs_are_saved_as_before(tmp_path):
    gqa = TransformerConfig.llama_like(vocab_size=50, d_model=16, n_heads=4, n_kv_heads=2,
                                       d_ff=32, max_seq_len=12)
    torch.manual_seed(0)
    model = DecoderLM(gqa).eval()
    save_checkpoint(tmp_path, model, gqa)
    loaded, cfg, _ = load_checkpoint(tmp_path)
    assert cfg == gqa and cfg.n_kv_heads == 2
    assert torch.equal(loaded(IDS)[0], model(IDS)[0])
    # n_kv_heads=None is left out of the saved config: older checkpoints and newer ones agree
    assert "n_kv_heads" not in CFG.to_dict() and gqa.to_dict()["n_kv_heads"] == 2


def test_config_json_is_readable_and_names_class_version_and_step(tmp_path):
    save_checkpoint(tmp_path, DecoderLM(CFG), CFG, step=3)
    header = json.loads((tmp_path / "config.json").read_text())
    assert header["model_class"] == "DecoderLM"
    assert header["minillm_version"] == minillm.__version__
    assert header["step"] == 3 and header["config"] == CFG.to_dict()


def test_checkpoint_holds_no_pickle_and_loading_never_calls_torch_load(tmp_path, monkeypatch):
    model = DecoderLM(CFG)
    save_checkpoint(tmp_path, model, CFG, trained_optimizer(model), step=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "config.json", "model.safetensors", "optimizer.json", "optimizer.safetensors",
        "rng.safetensors"]

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load (pickle) was called")

    monkeypatch.setattr(torch, "load", refuse)
    load_checkpoint(tmp_path)


def test_optimizer_state_round_trips_exactly(tmp_path):
    torch.manual_seed(0)
    model = DecoderLM(CFG)
    optimizer = trained_optimizer(model)
    save_checkpoint(tmp_path, model, CFG, optimizer, step=2)
    loaded, _, state = load_checkpoint(tmp_path)
    fresh = torch.optim.AdamW(loaded.parameters(), lr=1e-2)
    fresh.load_state_dict(state["optimizer"])
    original, restored = optimizer.state_dict(), fresh.state_dict()
    assert restored["param_groups"] == original["param_groups"]
    for index, tensors in original["state"].items():
        for name, value in tensors.items():
            assert torch.equal(restored["state"][index][name], value), (index, name)


def test_generator_state_is_saved_so_dropout_continues_where_it_stopped(tmp_path):
    torch.manual_seed(123)
    save_checkpoint(tmp_path, DecoderLM(CFG), CFG)
    expected = torch.rand(5)
    torch.manual_seed(999)
    _, _, state = load_checkpoint(tmp_path)
    set_rng_states(state["rng"])
    assert torch.equal(torch.rand(5), expected)
    assert set(state["rng"]) == set(rng_states())


def test_float64_weights_load_as_float64(tmp_path):
    model = DecoderLM(CFG).double()
    save_checkpoint(tmp_path, model, CFG)
    loaded, _, _ = load_checkpoint(tmp_path)
    assert loaded.tok_emb.weight.dtype == torch.float64
    assert_close(loaded.tok_emb.weight, model.tok_emb.weight, atol=0, rtol=0)


def test_model_class_can_be_given_by_class_or_name(tmp_path):
    save_checkpoint(tmp_path, Encoder(CFG), CFG)
    assert type(load_checkpoint(tmp_path, model_class="Encoder")[0]) is Encoder
    assert type(load_checkpoint(tmp_path, model_class=Encoder)[0]) is Encoder


def test_encoder_decoder_is_found_by_name_in_minillm_transformer(tmp_path):
    cls = minillm.transformer.EncoderDecoder
    save_checkpoint(tmp_path, cls(CFG), CFG)
    assert type(load_checkpoint(tmp_path)[0]) is cls


# ---- every broken checkpoint says what is wrong ---------------------------------------------
@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_missing_file_is_named(tmp_path, name):
    save_checkpoint(tmp_path, DecoderLM(CFG), CFG)
    (tmp_path / name).unlink()
    with pytest.raises(ValueError, match=f"{name} is missing"):
        load_checkpoint(tmp_path)


def test_folder_that_does_not_exist_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="config.json is missing"):
        load_checkpoint(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.safetensors",
                                  "rng.safetensors"])
def test_truncated_safetensors_file_is_named_truncated_or_corrupt(tmp_path, name):
    model = DecoderLM(CFG)
    save_checkpoint(tmp_path, model, CFG, trained_optimizer(model), step=2)
    path = tmp_path / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=f"{name} is truncated or corrupt"):
        load_checkpoint(tmp_path)


def test_garbage_config_json_is_named_truncated_or_corrupt(tmp_path):
    save_checkpoint(tmp_path, DecoderLM(CFG), CFG)
    text = (tmp_path / "config.json").read_text()
    (tmp_path / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="config.json is truncated or corrupt"):
        load_checkpoint(tmp_path)


def edit_config(folder, **changes):
    header = json.loads((folder / "config.json").read_text())
    header["config"].update(changes)
    (folder / "config.json").write_text(json.dumps(header))


def test_config_with_other_shapes_names_the_parameter_and_both_shapes(tmp_path):
    save_checkpoint(tmp_path, DecoderLM(CFG), CFG)
    edit_config(tmp_path, d_ff=64)
    with pytest.raises(ValueError, match=r"config.json does not match .*model.safetensors") as e:
        load_checkpoint(tmp_path)
    assert ("layers.0.ff.up.weight has shape (32, 16) in the file but (64, 16) in the model"
            in str(e.value))


def test_config_with_missing_and_unexpected_weights_names_both(tmp_path):
    save_checkpoint(tmp_path, DecoderLM(CFG), CFG)
    edit_config(tmp_path, tie_embeddings=False, positional="sinusoidal")
    with pytest.raises(ValueError) as e:
        load_checkpoint(tmp_path)
    assert "missing from the file: lm_head.weight" in str(e.value)
    assert "in the file but not in the model: pos_emb.weight" in str(e.value)


def test_config_with_an_unknown_field_is_a_clear_error(tmp_path):
    save_checkpoint(tmp_path, DecoderLM(CFG), CFG)
    edit_config(tmp_path, n_experts=8)
    with pytest.raises(ValueError, match="'config' is not a TransformerConfig.*n_experts"):
        load_checkpoint(tmp_path)


def test_unknown_model_class_lists_the_known_ones(tmp_path):
    save_checkpoint(tmp_path, DecoderLM(CFG), CFG)
    header = json.loads((tmp_path / "config.json").read_text())
    header["model_class"] = "os.system"
    (tmp_path / "config.json").write_text(json.dumps(header))
    with pytest.raises(ValueError, match=r"'os.system', which minillm does not have; known "
                                         r"classes: DecoderLM, Encoder"):
        load_checkpoint(tmp_path)
