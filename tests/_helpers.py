"""Shared by the library's own tests: seeded randomness, weights copied across twins, closeness.

Imported as `from _helpers import ...`: pytest's default import mode puts tests/ on sys.path.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import re
from pathlib import Path

import numpy as np
import torch

from minillm.viz import to_numpy

# The largest |actual - expected| each test has seen, keyed by test name (parameters cut off).
# Nothing here reads it; a reporting plugin or a debugging session can.
LARGEST_DIFF: dict[str, float] = {}


def rng(seed=0):
    """A seeded NumPy generator: every test draws its own, so tests do not depend on order."""
    return np.random.default_rng(seed)


def randn(*shape, seed=0):
    """Standard normal float64 array of the given shape."""
    return rng(seed).standard_normal(shape)


to_np = to_numpy   # a torch tensor (or anything array-like) as a NumPy array


def to_np_params(module):
    """The module's state_dict as the NumPy parameter dict the reference functions take."""
    return {name: to_np(value).copy() for name, value in module.state_dict().items()}


def randomized(module, seed=0, std=0.3):
    """The module in float64 with noise added to every parameter.

    Default initialisations (norm gains 1, biases 0, tiny embeddings) hide mistakes: a bias
    gradient of the wrong sign is invisible if every bias is zero and nothing depends on it.
    """
    module = module.double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


def leaf(array):
    """A float64 tensor that autograd will give a .grad to."""
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def param_grads(module):
    """{name: gradient} of every parameter after backward(), keyed like the state_dict."""
    return {name: p.grad for name, p in module.named_parameters()}


def assert_close(actual, expected, atol=1e-10, rtol=1e-10):
    """Same shape and values; records the largest difference in LARGEST_DIFF."""
    a, e = to_np(actual), to_np(expected)
    assert a.shape == e.shape, f"shape {a.shape} != expected {e.shape}"
    diff = float(np.max(np.abs(a - e))) if a.size else 0.0
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0].split("[")[0]
    LARGEST_DIFF[test] = max(LARGEST_DIFF.get(test, 0.0), diff)
    np.testing.assert_allclose(a, e, atol=atol, rtol=rtol)


def assert_grads_close(np_grads, torch_grads, atol=1e-10, rtol=1e-10):
    """The NumPy gradient dict has exactly the torch parameters' names, and equal values."""
    assert sorted(np_grads) == sorted(torch_grads)
    for name, expected in torch_grads.items():
        try:
            assert_close(np_grads[name], expected, atol, rtol)
        except AssertionError as error:
            raise AssertionError(f"gradient of {name}: {error}") from None


CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"


@functools.cache
def load_solutions(chapter):
    """chapters/<chapter>/solutions.py as a module, e.g. load_solutions("02-attention").

    Loaded once per test run: the exercise harness asks for each chapter's module many times.
    """
    path = CHAPTERS / chapter / "solutions.py"
    spec = importlib.util.spec_from_file_location(f"solutions_{chapter.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def unanswered(*args, **kwargs):
    ...  # what an exercise cell holds before the learner writes anything


def rejects(checker, answer, capsys, hint_word, *extra):
    """The exercise checker says ❌ with a hint containing hint_word, and returns false."""
    assert not checker(answer, *extra)
    out = capsys.readouterr().out
    assert "❌" in out and hint_word in out


def prose_sentences(text):
    """The prose sentences of a help topic, split as the chapter splits them."""
    found = []
    for paragraph in re.split(r"\n\s*\n", text):
        skip = paragraph.startswith(" ") or "|" in paragraph or "::=" in paragraph
        if skip or re.search(r"^[*=-]{3,}$", paragraph, flags=re.M):
            continue
        flat = " ".join(paragraph.split())
        found += [s for s in re.split(r"(?<=[.!?]) (?=[A-Z])", flat) if len(s) >= 20]
    return found
