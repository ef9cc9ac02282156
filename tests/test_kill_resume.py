"""A training run killed by a real signal (SIGKILL, SIGTERM or Ctrl-C's SIGINT) at any moment,
mid-save included, continues with `train --resume` and ends with exactly the weights of an
uninterrupted run. The run checkpoints after every step, so most kills land near a save.

Two kills run by default (about 20 s on 2 busy cores); the slow tier kills 50 more runs, with all
three signals, at spread-out moments.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from minillm.checkpoint import load_checkpoint
from minillm.cli import main

ROOT = Path(__file__).resolve().parents[1]
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    words = "a run that stops must continue where its last checkpoint left off".split()
    paragraphs = [" ".join(words[i % 5:] + words[:i % 5]) + f" {i}." for i in range(40)]
    path = tmp_path_factory.mktemp("corpus") / "prose.txt"
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    return path


def train_argv(corpus_file, out):
    return ["train", "--corpus", str(corpus_file), "--d-model", "16", "--n-heads", "2",
            "--n-layers", "1", "--dropout", "0.1", "--seq-len", "16", "--batch-size", "4",
            "--steps", "12", "--warmup", "2", "--lr", "1e-2", "--eval-every", "1",
            "--eval-batches", "1", "--device", "cpu", "--threads", "1", "--no-progress",
            "--out", str(out)]


@pytest.fixture(scope="module")
def uninterrupted(corpus_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "uninterrupted"
    assert main(train_argv(corpus_file, out)) == 0
    return load_checkpoint(out)[0].state_dict()


def kill_during_training(argv, out, signum, delay):
    """Start `python -m minillm` with argv, send signum `delay` seconds after its first
    checkpoint appears (or after it ends, if it is that quick), and wait for it to end."""
    process = subprocess.Popen([sys.executable, "-m", "minillm", *argv], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (out / "config.json").exists() and process.poll() is None:
        assert time.monotonic() < deadline, "the run wrote no checkpoint within 60 s"
        time.sleep(0.005)
    time.sleep(delay)
    if process.poll() is None:
        os.kill(process.pid, signum)
    stderr = process.communicate(timeout=60)[1].decode()
    assert "Traceback" not in stderr, stderr
    return process.returncode


def finish(corpus_file, out):
    """Continue the stopped run the way its message says: --resume if a checkpoint was saved,
    else the same command again."""
    if (out / "config.json").exists():
        argv = ["train", "--out", str(out), "--resume", "--no-progress"]
    else:
        argv = train_argv(corpus_file, out)
    assert main(argv) == 0


def check_kill_then_resume(corpus_file, uninterrupted, out, signum, delay):
    kill_during_training(train_argv(corpus_file, out), out, signum, delay)
    finish(corpus_file, out)
    resumed = load_checkpoint(out)[0].state_dict()
    for name, value in uninterrupted.items():
        assert torch.equal(resumed[name], value), f"{name} differs after {signum!r}"


# SIGTERM ends Python the way SIGKILL does (no clean-up runs): the slow tier covers it.
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT],
                         ids=lambda s: signal.Signals(s).name)
def test_a_killed_run_resumes_to_the_uninterrupted_weights(corpus_file, uninterrupted,
                                                           tmp_path, signum):
    check_kill_then_resume(corpus_file, uninterrupted, tmp_path / "run", signum, delay=0.05)


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(50))
def test_fifty_kills_at_spread_out_moments_all_resume_exactly(corpus_file, uninterrupted,
                                                              tmp_path, attempt):
    chance = random.Random(attempt)
    signum = SIGNALS[attempt % len(SIGNALS)]
    check_kill_then_resume(corpus_file, uninterrupted, tmp_path / "run", signum,
                           delay=chance.uniform(0.0, 0.6))
