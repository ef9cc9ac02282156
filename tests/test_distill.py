"""The distillation loss is T^2 KL(teacher || student), zero when they agree."""
import pytest
import torch
import torch.nn.functional as F

from minillm import DecoderLM, TransformerConfig
from minillm.distill import distillation_loss, distillation_objective
from minillm.objectives import causal_lm_loss


def test_distillation_loss_equals_t_squared_kl_by_hand():
    generator = torch.Generator().manual_seed(0)
    s, t = torch.randn(2, 3, 5, generator=generator), torch.randn(2, 3, 5, generator=generator)
    p = F.softmax(t / 2, -1)
    kl = (p * (p.log() - F.log_softmax(s / 2, -1))).sum(-1).mean()
    torch.testing.assert_close(distillation_loss(s, t, 2.0), 4 * kl)
    assert float(distillation_loss(t, t)) == pytest.approx(0, abs=1e-6)


def test_alpha_zero_is_the_plain_language_model_loss():
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(vocab_size=30)
    teacher, student = DecoderLM(cfg), DecoderLM(cfg)
    x = torch.randint(30, (2, 6))
    batch = (x, x)
    torch.testing.assert_close(distillation_objective(teacher, alpha=0)(student, batch),
                               causal_lm_loss(student, batch))
    assert distillation_objective(teacher, alpha=0.5)(student, batch).requires_grad


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(torch.zeros(2, 5), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(torch.zeros(2, 5), torch.zeros(2, 5), 0)
