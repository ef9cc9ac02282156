"""The rank-one edit maps the key to the value and spares keys orthogonal to it."""
import pytest
import torch

from minillm import DecoderLM, TransformerConfig
from minillm.editing import edit_fact, key_covariance, mlp_keys, rank_one_update


def test_rank_one_update_maps_key_to_value():
    torch.manual_seed(0)
    weight, key, value = torch.randn(4, 6), torch.randn(6), torch.randn(4)
    update = rank_one_update(weight, key, value)
    assert torch.allclose((weight + update) @ key, value, atol=1e-5)
    assert torch.linalg.matrix_rank(update) == 1
    other = torch.randn(6)
    other = other - (other @ key) / (key @ key) * key               # orthogonal to the key
    assert torch.allclose(update @ other, torch.zeros(4), atol=1e-5)


def test_rank_one_update_with_a_covariance_still_maps_key_to_value():
    torch.manual_seed(0)
    weight, key, value = torch.randn(4, 6), torch.randn(6), torch.randn(4)
    samples = torch.randn(50, 6)
    cov = samples.T @ samples / 50
    update = rank_one_update(weight, key, value, cov)
    assert torch.allclose((weight + update) @ key, value, atol=1e-4)


def test_rank_one_update_checks_shapes():
    with pytest.raises(ValueError, match="needs key"):
        rank_one_update(torch.zeros(4, 6), torch.zeros(5), torch.zeros(4))


def test_edit_fact_makes_the_target_likely():
    torch.manual_seed(0)
    model = DecoderLM(TransformerConfig(vocab_size=12, d_model=32, max_seq_len=8))
    model.init_weights(std=0.3).eval()      # logits large enough to be steered
    prompt = torch.tensor([[1, 2, 3]])
    cov = key_covariance(model, 0, torch.randint(12, (8, 8)))
    probs = model(prompt)[0][0, -1].softmax(-1)
    target = int(probs.argmin())                                    # the least likely token
    edit_fact(model, 0, prompt, target, cov=cov, steps=150, weight=1e-4)
    before, after = probs[target].item(), model(prompt)[0][0, -1].softmax(-1)[target].item()
    assert before < 0.2 < 0.8 < after
    assert mlp_keys(model, 0, prompt).shape == (1, 3, model.cfg.d_ff)
