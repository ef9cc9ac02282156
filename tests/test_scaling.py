"""The scaling helpers: N is what the FLOP counter multiplies, C = 6ND, fits recover laws."""
import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from minillm import DecoderLM, TransformerConfig
from minillm.scaling import PowerLaw, fit_power_law, non_embedding_parameters, training_flops


def _model(**changes):
    torch.manual_seed(0)
    cfg = TransformerConfig.llama_like(vocab_size=50, d_model=32, n_heads=4, n_layers=2,
                                       max_seq_len=16)
    return DecoderLM(cfg.replace(**changes))


def test_non_embedding_parameters_leave_out_the_embedding_tables():
    untied = _model()                                            # rotary: no position table
    total = sum(p.numel() for p in untied.parameters())
    assert non_embedding_parameters(untied) == total - 50 * 32   # the untied head counts
    tied = DecoderLM(TransformerConfig.gpt2_like(vocab_size=50, d_model=32, n_heads=4,
                                                 n_layers=2, max_seq_len=16))
    total = sum(p.numel() for p in tied.parameters())            # the tied weight counted once
    assert non_embedding_parameters(tied) == total - 50 * 32 - 16 * 32


def test_a_forward_pass_costs_two_flops_per_non_embedding_weight_and_token():
    # the counted FLOPs of an untied, bias-free model: 2 per matrix weight (N less the norm
    # gains) and token, plus attention's QK^T and AV, 4 * n_layers * seq * d_model per token
    model, seq = _model(), 16
    gains = sum(p.numel() for name, p in model.named_parameters() if "norm" in name)
    ids = torch.randint(50, (3, seq), generator=torch.Generator().manual_seed(0))
    with FlopCounterMode(display=False) as count, torch.no_grad():
        model(ids, need_weights=True)
    per_token = count.get_total_flops() / ids.numel()
    assert per_token == 2 * (non_embedding_parameters(model) - gains) + 4 * 2 * seq * 32


def test_training_flops_is_six_n_d():
    assert training_flops(1_000, 20_000) == 6 * 1_000 * 20_000
    assert training_flops(0, 5) == 0


@pytest.mark.parametrize("args, match", [((-1, 10), "n_params"), ((10, float("nan")), "n_tokens"),
                                         (("10", 10), "n_params")])
def test_training_flops_rejects_bad_counts(args, match):
    with pytest.raises(ValueError, match=match):
        training_flops(*args)


def test_non_embedding_parameters_wants_a_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        non_embedding_parameters({"w": torch.zeros(3)})


def test_fit_power_law_recovers_a_law_with_an_offset():
    n = np.array([1e3, 3e3, 1e4, 3e4, 1e5, 3e5])
    law = fit_power_law(n, 40 * n ** -0.3 + 1.5, grid=4000)
    assert law.alpha == pytest.approx(0.3, rel=0.02) and law.c == pytest.approx(1.5, rel=0.01)
    assert np.allclose(law(n), 40 * n ** -0.3 + 1.5, rtol=1e-3)


def test_fit_power_law_without_offset_is_the_log_log_line():
    n = np.array([10.0, 100.0, 1000.0])
    law = fit_power_law(n, 5 * n ** -0.5, offset=False)
    assert law == pytest.approx(PowerLaw(5.0, 0.5, 0.0))
    # with an offset in the data, the straight line's exponent comes out smaller: it bends
    assert fit_power_law(n, 5 * n ** -0.5 + 2, offset=False).alpha < 0.5


def test_fit_power_law_is_close_on_noisy_points():
    n = np.geomspace(1e3, 1e6, 8)
    noise = np.random.default_rng(0).normal(0, 0.003, len(n))
    law = fit_power_law(n, (20 * n ** -0.25 + 1.0) * (1 + noise))
    assert abs(law.alpha - 0.25) < 0.1 and abs(law.c - 1.0) < 0.2


@pytest.mark.parametrize("x, y, offset, match", [
    ([1, 2, 3], [1, 2], True, "same length"),
    ([1, 2], [3, 2], True, "at least 3 points"),
    ([1], [3], False, "at least 2 points"),
    ([1, 0, 3], [3, 2, 1], True, "x must hold positive"),
    ([1, 2, 3], [3, -2, 1], False, "y must hold positive"),
    ([2, 2, 2], [3, 2, 1], True, "2 different values"),
])
def test_fit_power_law_rejects_bad_points(x, y, offset, match):
    with pytest.raises(ValueError, match=match):
        fit_power_law(x, y, offset=offset)
