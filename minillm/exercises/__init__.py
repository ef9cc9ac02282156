"""Self-checking exercises: each chapter's checkers live in `minillm.exercises.<chapter>`.

A checker takes the learner's answer, prints a verdict and returns True/False. It never raises on
a wrong answer (so an unsolved exercise does not stop "Run All"); it gives a hint instead.
"""
from __future__ import annotations

import numpy as np

TODO = "replace the `...` with your answer, then run the cell again."


class Verdict:
    """A checker's result: true when the answer is right.

    It displays nothing in a notebook (the printed ✅/❌ line already says it all), so an
    exercise cell shows the verdict once, not followed by `True`/`False`.
    """

    def __init__(self, ok):
        self.ok = bool(ok)

    def __bool__(self):
        return self.ok

    def __repr__(self):
        return f"Verdict(ok={self.ok})"

    def _ipython_display_(self):
        pass


def verdict(ok, hint, success="Correct!"):
    """Print ✅ + success or ❌ + hint; return a Verdict (true when ok)."""
    print(f"✅ {success}" if ok else f"❌ Not yet. Hint: {hint}")
    return Verdict(ok)


def try_answer(fn, *args):
    """(fn(*args), None), or (None, hint) when the answer is missing or raises.

    A learner's bug becomes a hint, not a traceback that stops "Run All".
    """
    if is_unanswered(fn):
        return None, TODO
    try:
        answer = fn(*args)
    except Exception as error:  # noqa: BLE001 - any error in the learner's code is a hint
        return None, f"your function raised {type(error).__name__}: {error}"
    return (None, TODO) if is_unanswered(answer) else (answer, None)


def is_unanswered(answer):
    """True for the placeholder `...` (Ellipsis) or None that unsolved exercise cells hold."""
    return answer is None or answer is Ellipsis


def as_numbers(answer):
    """The answer as a float array (a number gives shape ()), or None when it is not numbers.

    A learner may return a string or a dict; that deserves a hint, not a ValueError.
    """
    from minillm.viz import to_numpy

    try:
        return np.asarray(to_numpy(answer), dtype=float)
    except (TypeError, ValueError):
        return None


def as_float(answer):
    """The answer as a Python float, or None if it is not one number (a string is not)."""
    if isinstance(answer, (str, bytes)):
        return None
    try:
        return float(np.asarray(answer.detach() if hasattr(answer, "detach") else answer))
    except (TypeError, ValueError):
        return None


def close(a, b, atol=1e-6):
    """Same shape and values within atol (NumPy arrays or torch tensors)."""
    from minillm.viz import to_numpy

    try:
        a, b = to_numpy(a), to_numpy(b)
    except Exception:  # noqa: BLE001 - any non-numeric answer is simply not close
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol))
