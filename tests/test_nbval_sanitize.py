"""The sanitize file hides run-to-run noise from strict nbval, and nothing more.

Each case below is a pair of outputs as a notebook could store them and as a fresh run could
print them. Noise (ids, addresses, clocks, float tails) must compare equal after sanitizing;
a real change in what a chapter computes must still compare different.
"""

import re
from collections import OrderedDict
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns

SANITIZE_FILE = Path(__file__).parent / "nbval_sanitize.cfg"


def sanitize_rules():
    """The (regex, replace) pairs exactly as nbval loads them: parsed by nbval, kept in a dict."""
    return OrderedDict(get_sanitize_patterns(SANITIZE_FILE.read_text(encoding="utf-8")))


def sanitize(text):
    for regex, replace in sanitize_rules().items():
        text = re.sub(regex, replace, text)
    return text


def test_nbval_reads_every_rule_written_in_the_sanitize_file():
    written = [
        line
        for line in SANITIZE_FILE.read_text(encoding="utf-8").splitlines()
        if line.startswith("regex: ")
    ]
    # A "regex:" line nbval cannot pair with a "replace:" line, or a regex written twice
    # (nbval keeps rules in a dict), would silently drop a rule.
    assert len(sanitize_rules()) == len(written)
    for regex in sanitize_rules():
        re.compile(regex)


NOISE = {
    "bertviz view id": (
        '<div id="bertviz-0f1e2d3c4b5a69788796a5b4c3d2e1f0"></div>',
        '<div id="bertviz-a1b2c3d4e5f60718293a4b5c6d7e8f90"></div>',
    ),
    "uuid": (
        "model_id: 6b1f3c2e-9a4d-4e2b-8c7f-0d1e2f3a4b5c",
        "model_id: 0a9b8c7d-6e5f-4a3b-9c1d-2e3f4a5b6c7d",
    ),
    "memory address": (
        "<Figure size 300x300 with 1 Axes> at 0x7f3a5c2b1d90",
        "<Figure size 300x300 with 1 Axes> at 0x7fe01234abcd",
    ),
    "tqdm timing and rate": (
        "100%|██████████| 200/200 [00:01<00:00, 152.31it/s, loss=2.1034]",
        "100%|██████████| 200/200 [00:03<00:00, 61.07it/s, loss=2.1034]",
    ),
    "tqdm before the first step": (
        "  0%|          | 0/200 [00:00<?, ?it/s]",
        "  0%|          | 0/200 [00:00<?, ?it/s]",
    ),
    "tqdm seconds per step, hours": (
        "100%|██████████| 3/3 [1:02:03<00:00, 1.23s/it]",
        "100%|██████████| 3/3 [00:04<00:00, 1.45s/it]",
    ),
    "throughput": ("trained at 1,234.5 tokens/s", "trained at 987 tokens/s"),
    "elapsed time": ("epoch 1 took 1.23 s", "epoch 1 took 850 ms"),
    "%%time": (
        "CPU times: user 1.21 s, sys: 12 ms, total: 1.22 s\nWall time: 1.3 s",
        "CPU times: user 980 ms, sys: 8 ms, total: 988 ms\nWall time: 1.01 s",
    ),
    "%timeit": (
        "12.3 µs ± 0.45 µs per loop (mean ± std. dev. of 7 runs, 100,000 loops each)",
        "1.05 ms ± 12.1 µs per loop (mean ± std. dev. of 7 runs, 1,000 loops each)",
    ),
    "Python and torch versions": (
        "minillm 0.1.0 imported; Python 3.11.7",
        "minillm 0.1.0 imported; Python 3.12.1",
    ),
    "a torch build": ("minillm 0.1.0, torch 2.13.0", "minillm 0.1.0, torch 2.9.1+cu126"),
    "float tail": ("max |diff| = 0.123456789", "max |diff| = 0.123451234"),
    "float tail in scientific notation": ("1.23456789e-05", "1.23451111e-05"),
    "tiny number changing sign": ("[-0.00000123, 0.5]", "[0.00000456, 0.5]"),
}


@pytest.mark.parametrize(("stored", "fresh"), NOISE.values(), ids=NOISE.keys())
def test_run_to_run_noise_compares_equal_after_sanitizing(stored, fresh):
    assert sanitize(stored) == sanitize(fresh)


REAL_CHANGES = {
    "a different loss": ("loss 2.1034", "loss 2.1043"),
    "a different byte value": ("byte 0x41 -> 'A'", "byte 0x42 -> 'B'"),
    "a different step count in tqdm": (
        "100%|██████████| 200/200 [00:01<00:00, 152.31it/s]",
        "100%|██████████| 300/300 [00:01<00:00, 152.31it/s]",
    ),
    "a different tqdm postfix": (
        "| 200/200 [00:01<00:00, 152.31it/s, loss=2.1034]",
        "| 200/200 [00:01<00:00, 152.31it/s, loss=3.0000]",
    ),
    "a different sign of a real number": ("-0.5000", "0.5000"),
    "a different shape": ("(2, 4, 16)", "(2, 4, 8)"),
    "a different minillm version": ("minillm 0.1.0, torch 2.13.0", "minillm 0.2.0, torch 2.13.0"),
}


@pytest.mark.parametrize(("stored", "fresh"), REAL_CHANGES.values(), ids=REAL_CHANGES.keys())
def test_a_real_change_in_output_still_fails_the_comparison(stored, fresh):
    assert sanitize(stored) != sanitize(fresh)
