"""Early stopping: stop when the validation loss stops improving, and keep the best weights:
`EarlyStopping`."""
from __future__ import annotations

import copy
import math


# ---- early stopping ------------------------------------------------------------------------
class EarlyStopping:
    """Stop when the validation loss has not improved for `patience` evaluations in a row.

    An evaluation improves when its loss is below the best so far by more than min_delta.
    Give `step` the model too and it keeps a copy of the weights of the best evaluation, which
    `restore` puts back: the model that generalised best, not the one that trained longest.
    """

    def __init__(self, patience=3, min_delta=0.0):
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.patience, self.min_delta = patience, min_delta
        self.best, self.best_step, self.bad_steps, self.steps = math.inf, None, 0, 0
        self.best_state = None

    def step(self, val_loss, model=None):
        """Record one evaluation's loss (a nan never improves). Returns True when training
        should stop."""
        self.steps += 1
        if val_loss < self.best - self.min_delta:
            self.best, self.best_step, self.bad_steps = float(val_loss), self.steps, 0
            if model is not None:
                self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_steps += 1
        return self.bad_steps >= self.patience

    def restore(self, model):
        """Load the weights saved at the best evaluation into model. Returns model."""
        if self.best_state is None:
            raise ValueError("no weights were saved: pass the model to step(val_loss, model)")
        model.load_state_dict(self.best_state)
        return model
