"""The command line: `python -m minillm train` and `generate`, their help, resuming a run, the
same weights from the same command, and clear errors. Tiny models on a small text file: seconds."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from minillm.cli import build_parser, main
from minillm.data import pydoc_corpus


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    """30 paragraphs of the language reference, about 15,000 characters."""
    paragraphs = [doc.text[:500].strip() for doc in pydoc_corpus()[:30]]
    path = tmp_path_factory.mktemp("corpus") / "reference.txt"
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    return path


def train_argv(corpus_file, out, *extra):
    return ["train", "--corpus", str(corpus_file), "--d-model", "16", "--n-heads", "2",
            "--n-layers", "1", "--dropout", "0.1", "--seq-len", "16", "--batch-size", "4",
            "--steps", "6", "--warmup", "2", "--lr", "1e-2", "--eval-every", "3",
            "--eval-batches", "2", "--device", "cpu", "--no-progress", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def run(corpus_file, tmp_path_factory):
    """An uninterrupted 6-step run on the char tokenizer."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(train_argv(corpus_file, out)) == 0
    return out


def weights(run_folder):
    return load_file(run_folder / "model.safetensors")


def assert_same_weights(a, b):
    a, b = weights(a), weights(b)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs"


def generated(capsys, argv):
    """What `main(argv)` prints on stdout (output printed before it is dropped)."""
    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err
    return capsys.readouterr().out.rstrip("\n")


# ---- help ----------------------------------------------------------------------------------
def test_help_runs_as_a_module_in_a_fresh_python():
    done = subprocess.run([sys.executable, "-m", "minillm", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "train" in done.stdout and "generate" in done.stdout


def test_without_a_command_help_is_printed_and_the_status_is_2(capsys):
    assert main([]) == 2
    assert "usage: python -m minillm" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "generate"])
def test_command_help_describes_every_option(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    subparsers = next(a for a in build_parser()._actions
                      if isinstance(a, argparse._SubParsersAction))
    for action in subparsers.choices[command]._actions:
        assert action.help, f"{action.option_strings} has no help text"
        assert action.option_strings[-1] in shown


# ---- train, then generate ------------------------------------------------------------------
def test_train_saves_checkpoint_tokenizer_and_settings_and_prints_each_evaluation(
        corpus_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(corpus_file, out)) == 0
    printed = capsys.readouterr().out
    assert "step      3/6" in printed and "step      6/6" in printed and "val ppl" in printed
    assert "validation loss" in printed.splitlines()[-1]
    for name in ("run.json", "config.json", "model.safetensors", "optimizer.safetensors",
                 "tokenizer/minillm_tokenizer.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "run.json").read_text())["steps"] == 6


def test_generate_prints_the_prompt_and_its_continuation(run, capsys):
    text = generated(capsys, ["generate", "--run", str(run), "--prompt", "The ",
                              "--max-new-tokens", "12", "--seed", "1"])
    assert text.startswith("The ") and len(text) == len("The ") + 12
    again = generated(capsys, ["generate", "--run", str(run), "--prompt", "The ",
                               "--max-new-tokens", "12", "--seed", "1"])
    assert again == text


def test_cached_and_uncached_generation_agree_past_the_context_length(run, capsys):
    # 40 new tokens with a 16-token context: generation slides its window twice.
    argv = ["generate", "--run", str(run), "--prompt", "def ", "--max-new-tokens", "40",
            "--greedy"]
    cached = generated(capsys, argv)
    assert len(cached) == len("def ") + 40
    assert generated(capsys, [*argv, "--no-cache"]) == cached


def test_bpe_llama_like_run_trains_and_generates(corpus_file, tmp_path, capsys):
    out = tmp_path / "bpe"
    assert main(train_argv(corpus_file, out, "--tokenizer", "bpe", "--vocab-size", "300",
                           "--preset", "llama_like")) == 0
    assert json.loads((out / "config.json").read_text())["config"]["positional"] == "rope"
    text = generated(capsys, ["generate", "--run", str(out), "--prompt", "for x in",
                              "--max-new-tokens", "10", "--top-k", "5", "--top-p", "0.9"])
    assert text.startswith("for x in")


# ---- determinism and resuming --------------------------------------------------------------
def test_the_same_command_twice_gives_the_same_weights(corpus_file, run, tmp_path):
    assert main(train_argv(corpus_file, tmp_path / "again")) == 0
    assert_same_weights(run, tmp_path / "again")


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_run(corpus_file, run, tmp_path,
                                                                   capsys):
    out = tmp_path / "interrupted"
    assert main(train_argv(corpus_file, out, "--stop-after", "2")) == 0
    assert "continue with --resume" in capsys.readouterr().out
    assert main(["train", "--out", str(out), "--resume", "--device", "cpu", "--no-progress"]) == 0
    assert "resuming at step 2 of 6" in capsys.readouterr().out
    assert_same_weights(run, out)


def test_weight_decay_is_a_run_setting_and_changes_the_weights(corpus_file, run, tmp_path):
    out = tmp_path / "no-decay"
    assert main(train_argv(corpus_file, out, "--weight-decay", "0")) == 0
    assert json.loads((out / "run.json").read_text())["weight_decay"] == 0.0
    assert json.loads((run / "run.json").read_text())["weight_decay"] == 0.1
    assert not torch.equal(weights(run)["tok_emb.weight"], weights(out)["tok_emb.weight"])


def test_a_run_json_from_before_weight_decay_resumes_with_the_default(corpus_file, run,
                                                                      tmp_path):
    out = tmp_path / "old"
    assert main(train_argv(corpus_file, out, "--stop-after", "2")) == 0
    settings = json.loads((out / "run.json").read_text())
    del settings["weight_decay"]
    (out / "run.json").write_text(json.dumps(settings))
    assert main(["train", "--out", str(out), "--resume", "--device", "cpu", "--no-progress"]) == 0
    assert_same_weights(run, out)


def test_resuming_a_finished_run_does_nothing(run, capsys):
    before = weights(run)
    assert main(["train", "--out", str(run), "--resume", "--no-progress"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert all(torch.equal(before[k], v) for k, v in weights(run).items())


# ---- clear errors --------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["generate", "--run", "{tmp}/missing", "--prompt", "x"], "there is no run folder"),
    (["generate", "--run", "{run}", "--prompt", "日本"], "'日' at position 0"),
    (["generate", "--run", "{run}", "--prompt", ""], "the prompt is empty"),
    (["train", "--out", "{run}"], "already holds a run: continue it with --resume"),
    (["train", "--out", "{tmp}/new", "--resume"], "there is no run to resume"),
    (["train", "--out", "{run}", "--resume", "--lr", "0.5"], "--lr 0.5 (the run has 0.01)"),
    (["train", "--out", "{tmp}/new", "--vocab-size", "500"], "--vocab-size is for --tokenizer bpe"),
    (["train", "--out", "{tmp}/new", "--corpus", "{tmp}/absent.txt"], "neither 'pydoc'"),
    (["train", "--out", "{tmp}/new", "--corpus", "{one_paragraph}"], "a single paragraph"),
    (["train", "--out", "{tmp}/new", "--d-model", "30", "--n-heads", "4"], "not divisible"),
])
def test_bad_input_is_explained_in_one_line(argv, message, run, tmp_path, capsys):
    one_paragraph = tmp_path / "one.txt"
    one_paragraph.write_text("just one paragraph of text\n")
    argv = [a.format(tmp=tmp_path, run=run, one_paragraph=one_paragraph) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"python -m minillm {argv[0]}: error: ") and message in err
    assert "Traceback" not in err
