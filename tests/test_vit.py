"""The Vision Transformer: patches, their inverse, shapes, and clear errors."""
import pytest
import torch

from minillm import TransformerConfig
from minillm.vit import VisionTransformer, patchify, unpatchify


def test_patchify_cuts_row_by_row():
    image = torch.arange(16.0).reshape(1, 4, 4)
    patches = patchify(image, 2)
    assert patches.shape == (1, 4, 4)
    assert patches[0, 0].tolist() == [0, 1, 4, 5]          # top-left patch
    assert patches[0, 1].tolist() == [2, 3, 6, 7]          # top-right
    assert patches[0, 2].tolist() == [8, 9, 12, 13]        # bottom-left


@pytest.mark.parametrize("shape, p", [((3, 8, 8), 2), ((3, 8, 8), 4), ((2, 3, 6, 9), 3)])
def test_unpatchify_inverts_patchify(shape, p):
    images = torch.randn(shape)
    patches = patchify(images, p)
    back = unpatchify(patches, p, shape[-2], shape[-1])
    expected = images if images.ndim == 4 else images[:, None]
    assert torch.equal(back, expected)


def test_forward_shapes_and_attention_over_cls_and_patches():
    cfg = TransformerConfig.tiny(d_model=16, n_heads=2, n_layers=2, d_ff=32)
    vit = VisionTransformer(cfg, image_size=8, patch_size=2, n_classes=10)
    logits, attentions = vit(torch.randn(5, 8, 8), need_weights=True)
    assert logits.shape == (5, 10)
    assert len(attentions) == 2 and attentions[0].shape == (5, 2, 17, 17)
    torch.testing.assert_close(attentions[0].sum(-1), torch.ones(5, 2, 17))
    assert vit(torch.randn(5, 1, 8, 8))[1] is None


def test_bad_input_errors():
    with pytest.raises(ValueError, match="must divide"):
        patchify(torch.randn(2, 8, 8), 3)
    with pytest.raises(ValueError, match="batch, height, width"):
        patchify(torch.randn(8, 8), 2)
    with pytest.raises(ValueError, match="do not tile"):
        unpatchify(torch.randn(1, 5, 4), 2, 4, 4)
    cfg = TransformerConfig.tiny(d_model=16, n_heads=2)
    with pytest.raises(ValueError, match="learned positions"):
        VisionTransformer(cfg.replace(positional="rope"), 8, 2, 10)
    with pytest.raises(ValueError, match="must divide"):
        VisionTransformer(cfg, 8, 3, 10)
    with pytest.raises(ValueError, match="images must be"):
        VisionTransformer(cfg, 8, 2, 10)(torch.randn(2, 7, 7))
