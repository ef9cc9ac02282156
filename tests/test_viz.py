"""minillm.viz's training curves: plot_history draws the loss and the learning rate, LivePlot
redraws one display in a notebook and does nothing elsewhere. (They lived in minillm.train, which
still re-exports them: tests/test_layering.py's MOVED checks that.)"""
from __future__ import annotations

import matplotlib

from minillm.viz import LivePlot, plot_history

matplotlib.use("Agg")


def test_plot_history_draws_loss_eval_loss_and_lr():
    history = {"step": [1, 2, 3], "loss": [3.0, 2.0, 1.5], "lr": [0.1, 0.2, 0.1],
               "grad_norm": [1.0] * 3, "eval_step": [3], "eval_loss": [1.7], "eval_ppl": [5.5]}
    fig = plot_history(history)
    loss_ax, lr_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["training loss", "validation loss"]
    assert list(loss_ax.lines[0].get_ydata()) == [3.0, 2.0, 1.5]
    assert list(lr_ax.lines[0].get_ydata()) == [0.1, 0.2, 0.1]
    assert "Loss" in loss_ax.get_title()


def test_live_plot_does_nothing_outside_a_notebook():
    live = LivePlot()
    live.update({"step": [1], "loss": [1.0], "lr": [0.1], "eval_step": []})
    assert not live.active and live.handle is None and live.figure is None


def test_live_plot_redraws_one_display_in_a_notebook(monkeypatch):
    import IPython.display

    shown = []

    class Handle:
        def update(self, figure):
            shown.append(("update", len(figure.axes)))

    def display(figure, display_id):
        shown.append(("display", len(figure.axes)))
        return Handle()

    monkeypatch.setattr("minillm.viz.in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", display)
    live = LivePlot()
    history = {"step": [1], "loss": [1.0], "lr": [0.1], "eval_step": []}
    live.update(history)
    live.update(history)
    assert shown == [("display", 2), ("update", 2)]
