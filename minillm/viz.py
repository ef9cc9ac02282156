"""Pictures of attention: heatmaps, a layer x head grid (the offline view), and a bridge to bertviz;
and of training: the loss and learning-rate curves (plot_history), redrawn live in a notebook.

Everything accepts NumPy arrays or torch tensors. Attention weights are
(heads, seq_q, seq_k) or (batch, heads, seq_q, seq_k) (batch item 0 is drawn).
"""
from __future__ import annotations

import html
import re
import warnings

import matplotlib.pyplot as plt
import numpy as np


def to_numpy(x):
    """A torch tensor (any device, with or without grad) or array-like -> np.ndarray."""
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def plot_attention(weights, q_tokens, k_tokens=None, ax=None, title=None, cmap="Blues",
                   annotate=False):
    """Heatmap of one attention matrix: rows are queries, columns are keys.

    weights: (seq_q, seq_k); q_tokens: seq_q labels; k_tokens: seq_k labels (default q_tokens).
    annotate: write each weight (2 decimals) in its cell; readable up to ~10 tokens.
    """
    w = to_numpy(weights)
    k_tokens = q_tokens if k_tokens is None else k_tokens
    if w.shape != (len(q_tokens), len(k_tokens)):
        raise ValueError(f"weights of shape {w.shape} do not match {len(q_tokens)} query tokens "
                         f"and {len(k_tokens)} key tokens")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.35 * len(k_tokens) + 1.5, 0.35 * len(q_tokens) + 1))
    ax.imshow(w, cmap=cmap, vmin=0, vmax=1)
    ax.set_xticks(range(len(k_tokens)), k_tokens, rotation=90, fontsize=8)
    ax.set_yticks(range(len(q_tokens)), q_tokens, fontsize=8)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if annotate:
        _annotate(ax, w)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def _annotate(ax, w):
    for (i, j), value in np.ndenumerate(w):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                color="white" if value > 0.6 else "black")


def plot_heads(weights, q_tokens, k_tokens=None, title=None, max_cols=4):
    """One heatmap per head. weights: (heads, seq_q, seq_k) or (batch, heads, seq_q, seq_k)."""
    w = _heads(weights)
    n = w.shape[0]
    cols = min(n, max_cols)
    rows = -(-n // cols)
    size = 0.25 * max(w.shape[1:]) + 1.2
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for h, ax in enumerate(axes.flat):
        if h < n:
            plot_attention(w[h], q_tokens, k_tokens, ax=ax, title=f"head {h}")
        else:
            ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_attention_grid(attentions, tokens, title="attention of every layer and head"):
    """The offline attention view: a grid of small heatmaps, one row per layer, one column per head.

    attentions: a list of n_layers arrays (batch, heads, seq, seq) (batch item 0 is drawn).
    """
    layers = [_heads(a) for a in attentions]
    n_layers, n_heads = len(layers), layers[0].shape[0]
    fig, axes = plt.subplots(n_layers, n_heads, figsize=(1.9 * n_heads, 1.9 * n_layers),
                             squeeze=False)
    for i, w in enumerate(layers):
        for h in range(n_heads):
            ax = axes[i, h]
            ax.imshow(w[h], cmap="Blues", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"head {h}", fontsize=9)
            if h == 0:
                ax.set_ylabel(f"layer {i}", fontsize=9)
    fig.suptitle(f"{title}\n(rows: queries {tokens[0]!r}…{tokens[-1]!r}; columns: keys)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def bertviz_attention(attentions):
    """bertviz wants a tuple of torch tensors, one per layer, each (1, heads, seq, seq)."""
    import torch

    return tuple(torch.as_tensor(_heads(a)[None].copy()) for a in attentions)


_OFFLINE_NOTICE = """<script>
(function () {
  function notice(what) {
    var p = document.createElement('p');
    p.className = 'bertviz-load-error';
    p.style.cssText = 'color:#b00020;font:14px sans-serif';
    p.textContent = 'bertviz could not load ' + what + ' from cdnjs.cloudflare.com (offline?). ' +
      'The same attention is drawn offline by minillm.viz.plot_attention_grid.';
    document.body.insertBefore(p, document.body.firstChild);
  }
  if (!window.requirejs) {
    window.addEventListener('DOMContentLoaded', function () { notice('require.js'); });
  } else {
    requirejs.onError = function (e) { notice((e.requireModules || ['a module']).join(', ')); };
  }
})();
</script>"""

_AUTOSIZE = ("(function(f){try{var d=f.contentDocument;var r=function(){f.style.height="
             "(Math.max(d.body.scrollHeight,d.documentElement.scrollHeight)+8)+'px'};r();"
             "new ResizeObserver(r).observe(d.body);}catch(e){}})(this)")


def show_bertviz(view, attentions, tokens, min_height=150, **kwargs):
    """Display bertviz's head_view / model_view of `attentions` inside an <iframe srcdoc>.

    Why an iframe: in JupyterLab 4 the stock view often fails on first run ("require is not
    defined") because require.js loads asynchronously; inside an iframe the page's parser loads
    require.js before the view runs. If the browser is offline, the frame says so in red.
    view: bertviz.head_view or bertviz.model_view; attentions: list of (batch, heads, seq, seq).
    """
    from IPython.display import HTML, display

    seq = _heads(attentions[0]).shape[-1]
    if len(tokens) != seq:
        raise ValueError(f"{len(tokens)} tokens for attention over {seq} positions")
    page = view(bertviz_attention(attentions), list(tokens), html_action="return", **kwargs).data
    page = re.sub(r'(<script src="[^"]*require[^"]*"></script>)',
                  lambda m: m.group(1) + _OFFLINE_NOTICE, page, count=1)
    doc = ("<!doctype html><html><head><meta charset='utf-8'></head>"
           "<body style='margin:0;overflow-x:auto;font-family:Helvetica,Arial,sans-serif'>" + page
           + "</body></html>")
    with warnings.catch_warnings():      # IPython suggests IFrame; srcdoc is what we need here
        warnings.simplefilter("ignore", UserWarning)
        display(HTML(f'<iframe class="bertviz-frame" srcdoc="{html.escape(doc, quote=True)}" '
                     f'style="width:100%;min-height:{min_height}px;border:0" '
                     f'onload="{_AUTOSIZE}"></iframe>'))


def _heads(weights):
    w = to_numpy(weights)
    if w.ndim == 4:
        w = w[0]
    if w.ndim != 3:
        raise ValueError(f"attention weights must be (heads, seq_q, seq_k) or "
                         f"(batch, heads, seq_q, seq_k), got shape {w.shape}")
    return w


# ---- training curves ----------------------------------------------------------------------
def plot_history(history, fig=None):
    """Two panels: the training (and validation) loss, and the learning rate, against step.
    Draws into fig (a new pyplot figure by default) and returns it."""
    fig = plt.figure(figsize=(9, 3.2)) if fig is None else fig
    loss_ax, lr_ax = fig.subplots(1, 2)
    loss_ax.plot(history["step"], history["loss"], lw=1, label="training loss")
    if history["eval_step"]:
        loss_ax.plot(history["eval_step"], history["eval_loss"], "o-", label="validation loss")
    loss_ax.set(xlabel="step", ylabel="loss", title="Loss falls as the model learns")
    loss_ax.legend()
    lr_ax.plot(history["step"], history["lr"])
    lr_ax.set(xlabel="step", ylabel="learning rate",
              title="Learning rate: warm-up, then cosine decay")
    fig.tight_layout()
    return fig


def in_notebook():
    """True inside a Jupyter kernel, where a displayed figure can be redrawn in place."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in shell.config


class LivePlot:
    """plot_history redrawn in place in a Jupyter cell at each update; elsewhere it does nothing."""

    def __init__(self):
        self.active = in_notebook()
        self.figure, self.handle = None, None

    def update(self, history):
        if not self.active:
            return
        from IPython.display import display

        if self.figure is None:
            self.figure = plt.figure(figsize=(9, 3.2))
            # Closed to pyplot, so Jupyter shows it only through the handle, not again at the end.
            plt.close(self.figure)
        self.figure.clear()
        plot_history(history, self.figure)
        if self.handle is None:
            self.handle = display(self.figure, display_id=True)
        else:
            self.handle.update(self.figure)
