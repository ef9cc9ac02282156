"""Self-checking exercises: each chapter's checkers live in `minillm.exercises.<chapter>`.

A checker takes the learner's answer, prints a verdict and returns True/False. It never raises on
a wrong answer (so an unsolved exercise does not stop "Run All"); it gives a hint instead.
"""
from __future__ import annotations

import numpy as np


def verdict(ok, hint, success="Correct!"):
    """Print ✅ + success or ❌ + hint; return ok."""
    print(f"✅ {success}" if ok else f"❌ Not yet. Hint: {hint}")
    return bool(ok)


def is_unanswered(answer):
    """True for the placeholder `...` (Ellipsis) or None that unsolved exercise cells hold."""
    return answer is None or answer is Ellipsis


def close(a, b, atol=1e-6):
    """Same shape and values within atol (NumPy arrays or torch tensors)."""
    from minillm.viz import to_numpy

    try:
        a, b = to_numpy(a), to_numpy(b)
    except Exception:  # noqa: BLE001 - any non-numeric answer is simply not close
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol))
