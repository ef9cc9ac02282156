"""Checkpoints: weights, config, optimizer and generator states survive a round trip through
plain safetensors + JSON files, and every broken checkpoint fails with a sentence naming why."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

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


# ---- all or nothing: a stopped save leaves the old checkpoint or the new one -----------------
class Crash(BaseException):
    """Stands for a kill or Ctrl-C arriving in the middle of a save."""


def two_checkpoints():
    """(old, new): two (model, optimizer) pairs with different weights and moments."""
    pairs = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = DecoderLM(CFG)
        pairs.append((model, trained_optimizer(model)))
    return pairs


def assert_loads_as_one_of(folder, saves):
    """folder loads as exactly one of saves ({step: (model, optimizer)}): same weights and
    moments as the save its config.json names, never a mix."""
    loaded, _, state = load_checkpoint(folder)
    model, optimizer = saves[state["step"]]
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), (state["step"], name)
    expected = optimizer.state_dict()["state"]
    for index, tensors in state["optimizer"]["state"].items():
        for name, value in tensors.items():
            assert torch.equal(value, expected[index][name]), (state["step"], index, name)


def crash_at(monkeypatch, k, kill):
    """Make the k-th write point of a save (a file write, fsync or rename) stop it. kill=True
    acts like SIGKILL: the file being written is left half written, and no clean-up runs."""
    import minillm.checkpoint
    import minillm.files

    calls = [0]

    def stop(path=None, data=None):
        if kill:
            if data is not None:
                Path(path).write_bytes(data[: len(data) // 2])
            monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: None)
        raise Crash

    def counted(function, writes=False):
        def wrapper(*args, **kwargs):
            calls[0] += 1
            if calls[0] == k:
                stop(*args[:2]) if writes else stop()
            return function(*args, **kwargs)
        return wrapper

    write = counted(minillm.files.write_durably, writes=True)
    monkeypatch.setattr(minillm.files, "write_durably", write)
    monkeypatch.setattr(minillm.checkpoint, "write_durably", write)
    monkeypatch.setattr(os, "replace", counted(os.replace))
    monkeypatch.setattr(os, "fsync", counted(os.fsync))


@pytest.mark.parametrize("kill", [False, True], ids=["exception", "kill"])
def test_a_save_stopped_at_any_write_point_leaves_the_old_or_the_new_checkpoint(tmp_path,
                                                                                  kill):
    (old, old_opt), (new, new_opt) = two_checkpoints()
    saves = {1: (old, old_opt), 2: (new, new_opt)}
    outcomes = []
    for k in range(1, 100):
        folder = tmp_path / f"stopped-at-{k}"
        save_checkpoint(folder, old, CFG, old_opt, step=1)
        with pytest.MonkeyPatch.context() as monkeypatch:
            crash_at(monkeypatch, k, kill)
            try:
                save_checkpoint(folder, new, CFG, new_opt, step=2)
                finished = True
            except Crash:
                finished = False
        assert_loads_as_one_of(folder, saves)
        outcomes.append(load_checkpoint(folder)[2]["step"])
        save_checkpoint(folder, new, CFG, new_opt, step=2)   # the next save cleans up
        assert sorted(p.name for p in folder.iterdir()) == [
            "config.json", "model.safetensors", "optimizer.json", "optimizer.safetensors",
            "rng.safetensors"]
        if finished:
            break
    assert finished and k > 10, k   # every write point was tried
    assert 1 in outcomes and 2 in outcomes


def test_a_file_from_another_save_is_refused_not_mixed_in(tmp_path):
    (old, old_opt), (new, new_opt) = two_checkpoints()
    save_checkpoint(tmp_path, old, CFG, old_opt, step=1)
    stale = (tmp_path / "optimizer.safetensors").read_bytes()
    save_checkpoint(tmp_path, new, CFG, new_opt, step=2)
    (tmp_path / "optimizer.safetensors").write_bytes(stale)
    with pytest.raises(ValueError, match="optimizer.safetensors is truncated or corrupt: its "
                                         "sha256 differs"):
        load_checkpoint(tmp_path)


def test_a_save_without_optimizer_removes_the_old_optimizer_files(tmp_path):
    (old, old_opt), (new, _) = two_checkpoints()
    save_checkpoint(tmp_path, old, CFG, old_opt, step=1)
    save_checkpoint(tmp_path, new, CFG, step=2)
    assert load_checkpoint(tmp_path)[2]["optimizer"] is None
    assert not (tmp_path / "optimizer.safetensors").exists()


def test_concurrent_saves_and_loads_never_mix_two_checkpoints(tmp_path):
    (old, old_opt), (new, new_opt) = two_checkpoints()
    saves = {1: (old, old_opt), 2: (new, new_opt)}
    save_checkpoint(tmp_path, old, CFG, old_opt, step=1)
    errors = []

    def saver(step):
        try:
            for _ in range(15):
                save_checkpoint(tmp_path, *saves[step][:1], CFG, saves[step][1], step=step)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=saver, args=(step,)) for step in (1, 2, 1, 2)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        assert_loads_as_one_of(tmp_path, saves)
    for thread in threads:
        thread.join()
    assert errors == []
    assert_loads_as_one_of(tmp_path, saves)
    assert not list(tmp_path.glob(".*"))


def save_repeatedly(folder, model, optimizer, step, times):
    """In a child process: save model and optimizer (sent from the parent, so that the weights
    are exactly the ones it checks against) `times` times."""
    for _ in range(times):
        save_checkpoint(folder, model, CFG, optimizer, step=step)


@pytest.mark.slow   # each process imports torch afresh (a fork could deadlock torch's threads)
def test_concurrent_saving_processes_never_mix_two_checkpoints(tmp_path):
    import multiprocessing

    (old, old_opt), (new, new_opt) = two_checkpoints()
    saves = {1: (old, old_opt), 2: (new, new_opt)}
    save_checkpoint(tmp_path, old, CFG, old_opt, step=1)
    spawn = multiprocessing.get_context("spawn")
    savers = [spawn.Process(target=save_repeatedly, args=(tmp_path, *saves[step], step, 20))
              for step in (1, 2)]
    for saver in savers:
        saver.start()
    while any(saver.is_alive() for saver in savers):
        assert_loads_as_one_of(tmp_path, saves)
    assert [saver.exitcode for saver in savers] == [0, 0]
    assert_loads_as_one_of(tmp_path, saves)
    assert not list(tmp_path.glob(".*"))
