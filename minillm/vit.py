"""A Vision Transformer (ViT, Dosovitskiy et al. 2021): attention over image patches.

An image is cut into p x p patches; each patch, flattened, is one "token". A linear layer
embeds the patches, a learned [CLS] vector goes in front, learned positions are added, and the
same EncoderLayer stack that reads text reads the patches. The [CLS] token's final vector is
classified. Nothing in the attention knows it is looking at pixels.
"""
from __future__ import annotations

import torch
from torch import nn

from minillm.config import TransformerConfig
from minillm.layers import Linear, build_norm
from minillm.transformer import EncoderLayer


def patchify(images, patch_size):
    """Cut images into non-overlapping square patches, row by row.

    images: (batch, height, width) or (batch, channels, height, width); height and width must be
    multiples of patch_size. Returns (batch, n_patches, channels * patch_size**2) with
    n_patches = (height // p) * (width // p); patch i covers rows (i // (width // p)) * p ...
    and columns (i % (width // p)) * p ...; its values are channel-major, then row, then column.
    """
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise ValueError(f"images must be (batch, height, width) or (batch, channels, height, "
                         f"width), got shape {tuple(images.shape)}")
    batch, channels, height, width = images.shape
    if patch_size < 1 or height % patch_size or width % patch_size:
        raise ValueError(f"patch_size={patch_size} must divide the image size {height} x {width}")
    p = patch_size
    grid = images.reshape(batch, channels, height // p, p, width // p, p)
    # (batch, rows, cols, channels, p, p): one patch per (row, col)
    return grid.permute(0, 2, 4, 1, 3, 5).reshape(batch, -1, channels * p * p)


def unpatchify(patches, patch_size, height, width):
    """The inverse of patchify: (batch, n_patches, channels * p**2) -> (batch, channels, height,
    width)."""
    p = patch_size
    batch, n_patches, size = patches.shape
    if height % p or width % p or n_patches != (height // p) * (width // p) or size % (p * p):
        raise ValueError(f"{n_patches} patches of {size} values do not tile a {height} x {width} "
                         f"image with patch_size={p}")
    channels = size // (p * p)
    grid = patches.reshape(batch, height // p, width // p, channels, p, p)
    return grid.permute(0, 3, 1, 4, 2, 5).reshape(batch, channels, height, width)


class VisionTransformer(nn.Module):
    """Patches -> [CLS] + patch embeddings + learned positions -> EncoderLayers -> class logits.

    cfg: a TransformerConfig for the encoder stack (d_model, n_heads, n_layers, d_ff, norm...;
    its vocab_size and max_seq_len are not used, and its positions are the learned ones here,
    so cfg.positional must not be "rope"). Submodules: patch_embed, cls_token (1, 1, d_model),
    pos_emb (1, n_patches + 1, d_model), layers, final_norm (pre-LN), head.
    """

    def __init__(self, cfg: TransformerConfig, image_size, patch_size, n_classes, channels=1):
        super().__init__()
        if cfg.positional == "rope":
            raise ValueError("VisionTransformer adds learned positions itself: use a cfg with "
                             "positional='learned' (rotary angles assume a 1-D sequence)")
        if image_size % patch_size:
            raise ValueError(f"patch_size={patch_size} must divide image_size={image_size}")
        self.cfg, self.image_size, self.patch_size = cfg, image_size, patch_size
        self.channels = channels
        n_patches = (image_size // patch_size) ** 2
        self.patch_embed = Linear(channels * patch_size ** 2, cfg.d_model)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.d_model))
        self.pos_emb = nn.Parameter(torch.randn(1, n_patches + 1, cfg.d_model) * 0.02)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layers))
        if cfg.norm_first:
            self.final_norm = build_norm(cfg.d_model, cfg.norm, cfg.norm_eps, cfg.bias)
        self.head = Linear(cfg.d_model, n_classes)

    def forward(self, images, need_weights=False):
        """images: (batch, image_size, image_size) or (batch, channels, image_size, image_size).
        Returns (logits (batch, n_classes), attentions: list of n_layers (batch, heads,
        n_patches + 1, n_patches + 1) tensors, token 0 = [CLS], or None unless need_weights)."""
        expected = (self.channels, self.image_size, self.image_size)
        shape = tuple(images.shape[1:]) if images.ndim == 4 else (1, *images.shape[1:])
        if images.ndim not in (3, 4) or shape != expected:
            raise ValueError(f"images must be (batch, {self.channels}, {self.image_size}, "
                             f"{self.image_size}), got shape {tuple(images.shape)}")
        x = self.patch_embed(patchify(images, self.patch_size))     # (batch, n_patches, d)
        cls = self.cls_token.expand(len(x), -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_emb
        attentions = []
        for layer in self.layers:
            x, weights = layer(x, None, need_weights)
            attentions.append(weights)
        if self.cfg.norm_first:
            x = self.final_norm(x)
        return self.head(x[:, 0]), attentions if need_weights else None
