"""Logit bias and constrained decoding."""
import pytest
import torch

from minillm import DecoderLM, TransformerConfig
from minillm.constrained import allowed_tokens, constrained_generate, logit_bias
from minillm.generate import generate

TEXTS = ["a", "b", "1", "2", " ", "x1", "!", "3"]


def _model():
    torch.manual_seed(0)
    return DecoderLM(TransformerConfig(vocab_size=len(TEXTS), max_seq_len=16)).eval()


def _digits(text):
    return text == "" or text.isdigit()


def test_logit_bias_bans_and_boosts():
    logits = torch.zeros(2, 4)
    out = logit_bias(logits, {1: float("-inf"), 2: 3.0})
    assert out[:, 1].isinf().all() and (out[:, 2] == 3.0).all()
    assert (logits == 0).all()   # the input is unchanged
    with pytest.raises(ValueError, match="outside the vocabulary"):
        logit_bias(logits, {4: 1.0})


def test_allowed_tokens_checks_the_extended_text():
    assert allowed_tokens(TEXTS, "1", _digits).tolist() == [False, False, True, True, False,
                                                            False, False, True]


def test_constrained_output_always_satisfies_the_rule():
    model = _model()
    for seed in range(5):
        prompt = torch.tensor([[seed % len(TEXTS)]])
        out = constrained_generate(model, prompt, 8, TEXTS, _digits)
        text = "".join(TEXTS[i] for i in out[0, 1:].tolist())
        assert len(text) == 8 and text.isdigit()


def test_constrained_greedy_equals_greedy_when_everything_is_allowed():
    model = _model()
    prompt = torch.tensor([[0, 1]])
    ours = constrained_generate(model, prompt, 6, TEXTS, lambda text: True)
    assert torch.equal(ours, generate(model, prompt, 6, greedy=True))


def test_constrained_generation_stops_at_a_dead_end():
    out = constrained_generate(_model(), torch.tensor([[0]]), 5, TEXTS, lambda text: text == "")
    assert out.tolist() == [[0]]


def test_constrained_generate_checks_its_input():
    with pytest.raises(ValueError, match="one prompt"):
        constrained_generate(_model(), torch.zeros(2, 1, dtype=torch.long), 2, TEXTS, _digits)
    with pytest.raises(ValueError, match="token_texts"):
        constrained_generate(_model(), torch.zeros(1, 1, dtype=torch.long), 2, TEXTS[:3], _digits)
