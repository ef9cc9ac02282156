"""Magnitude pruning and head masking do what they say."""
import pytest
import torch

from minillm import DecoderLM, TransformerConfig
from minillm.prune import (
    attention_layers,
    head_importance,
    magnitude_mask,
    magnitude_prune,
    masked_heads,
)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return DecoderLM(TransformerConfig.llama_like(vocab_size=40, d_model=32, n_heads=4)).eval()


def test_magnitude_mask_drops_the_smallest_entries():
    w = torch.tensor([[0.5, -0.1], [2.0, -0.3]])
    assert magnitude_mask(w, 0.5).tolist() == [[True, False], [True, False]]
    assert magnitude_mask(w, 0.0).all() and not magnitude_mask(w, 1.0).any()


def test_magnitude_prune_zeroes_that_fraction_of_every_linear_weight(model):
    pruned = magnitude_prune(model, 0.3)
    weight = pruned.layers[0].ff.up.weight
    assert float((weight == 0).float().mean()) == pytest.approx(0.3, abs=0.01)
    assert (model.layers[0].ff.up.weight != 0).all()


def test_masking_a_head_equals_zeroing_its_columns_of_out_proj(model):
    ids = torch.randint(40, (2, 9))
    attn = attention_layers(model)[1]
    with torch.no_grad(), masked_heads(model, [(1, 2)]):
        masked = model(ids)[0]
    with torch.no_grad():
        attn.out_proj.weight[:, 16:24] = 0
        expected = model(ids)[0]
    torch.testing.assert_close(masked, expected)


def test_the_hook_is_removed_afterwards_and_bad_heads_are_refused(model):
    ids = torch.randint(40, (1, 5))
    with torch.no_grad():
        before = model(ids)[0]
        with masked_heads(model, [(0, 0), (0, 1)]):
            pass
        torch.testing.assert_close(model(ids)[0], before)
    with pytest.raises(ValueError, match="no head"):
        with masked_heads(model, [(0, 4)]):
            pass


def test_head_importance_scores_every_head(model):
    with torch.no_grad():
        scores = head_importance(model, lambda m: float(m(torch.arange(8)[None])[0].sum()))
    assert sorted(scores) == [(layer, head) for layer in range(2) for head in range(4)]
