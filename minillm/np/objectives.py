"""Pretraining objectives, NumPy reference: CLIP's symmetric InfoNCE and its backward.

The twin is `minillm.objectives.clip_loss`. The other objectives there stay PyTorch only: they
wrap a model, while this one is a formula on two matrices of embeddings.
"""
from __future__ import annotations

import numpy as np

from minillm.np.functional import cross_entropy, softmax


def _check(image_emb, text_emb, temperature):
    if image_emb.shape != text_emb.shape or image_emb.ndim != 2:
        raise ValueError(f"image_emb and text_emb must both be (batch, d), got "
                         f"{tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    if np.size(temperature) != 1 or not float(np.asarray(temperature).item()) > 0:
        raise ValueError(f"temperature must be one positive number, got {temperature}")


def _unit_rows(x):
    """x / |x| row by row, and |x| (batch, 1); |x| at least 1e-12, as torch's F.normalize."""
    norm = np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    return x / norm, norm


def clip_loss(image_emb, text_emb, temperature=0.07):
    """CLIP's symmetric InfoNCE (Radford et al. 2021): row i of image_emb and row i of text_emb
    are a matching (image, caption) pair, every other pairing in the batch a mismatch.

    image_emb, text_emb: (batch, d). With s_ij = cos(image_i, text_j) / temperature the loss is
    the mean of the two directions, image -> text (each image picks its caption among the batch's
    captions, a softmax over row i of s) and text -> image (each caption picks its image, a
    softmax over column j). temperature: a positive number. Returns a scalar (a 0-d array).
    """
    image_emb, text_emb = np.asarray(image_emb), np.asarray(text_emb)
    _check(image_emb, text_emb, temperature)
    u, _ = _unit_rows(image_emb)
    v, _ = _unit_rows(text_emb)
    similarity = u @ v.T / temperature
    targets = np.arange(len(image_emb))
    return (cross_entropy(similarity, targets) + cross_entropy(similarity.T, targets)) / 2


def clip_loss_backward(dloss, image_emb, text_emb, temperature=0.07):
    """(d image_emb, d text_emb) of loss = clip_loss(image_emb, text_emb, temperature).

    With u_i = a_i / |a_i|, v_j = b_j / |b_j|, s = u v^T / T, P = softmax of s along rows (image
    -> text) and Q = softmax along columns (text -> image), n = batch:
    ds = dloss * ((P - I) + (Q - I)) / (2n);  du = ds v / T;  dv = ds^T u / T;
    and through the normalisation da_i = (du_i - u_i (u_i . du_i)) / |a_i|, db_j likewise.
    """
    image_emb, text_emb = np.asarray(image_emb), np.asarray(text_emb)
    _check(image_emb, text_emb, temperature)
    u, u_norm = _unit_rows(image_emb)
    v, v_norm = _unit_rows(text_emb)
    similarity = u @ v.T / temperature
    n = len(image_emb)
    identity = np.eye(n, dtype=similarity.dtype)
    rows, columns = softmax(similarity, axis=1), softmax(similarity, axis=0)
    dsimilarity = dloss * ((rows - identity) + (columns - identity)) / (2 * n)
    du = dsimilarity @ v / temperature
    dv = dsimilarity.T @ u / temperature
    dimage = (du - u * np.sum(u * du, axis=-1, keepdims=True)) / u_norm
    dtext = (dv - v * np.sum(v * dv, axis=-1, keepdims=True)) / v_norm
    return dimage, dtext
