"""Head-role scores, induction targets, layer states and head ablation."""
import pytest
import torch
import torch.nn.functional as F

from minillm import DecoderLM, Encoder, TransformerConfig
from minillm.finetune import hidden_states
from minillm.interpret import (
    ablate_heads,
    attention_to,
    head_scores,
    induction_targets,
    layer_states,
    next_token_targets,
    previous_token_targets,
    token_targets,
)


def test_previous_token_score_of_a_previous_token_head_is_one():
    seq = 5
    weights = torch.zeros(1, 2, seq, seq)
    weights[0, 0, 0, 0] = 1.0
    weights[0, 0, torch.arange(1, seq), torch.arange(seq - 1)] = 1.0   # head 0: previous token
    weights[0, 1] = torch.eye(seq)                                   # head 1: itself
    scores = attention_to(weights, previous_token_targets(1, seq))
    assert torch.allclose(scores, torch.tensor([1.0, 0.0]))


def test_next_token_targets_point_one_ahead():
    targets = next_token_targets(1, 4)[0]
    assert targets.nonzero().tolist() == [[0, 1], [1, 2], [2, 3]]


def test_token_targets_mark_the_keys_holding_the_token():
    ids = torch.tensor([[7, 1, 2, 7]])
    assert token_targets(ids, 7)[0, 2].tolist() == [True, False, False, True]


def test_induction_targets_point_after_the_earlier_occurrence():
    ids = torch.tensor([[5, 6, 7, 5, 6, 7]])
    targets = induction_targets(ids)[0]
    assert targets[3].nonzero().flatten().tolist() == [1]   # the second 5 looks at the 6
    assert targets[5].nonzero().flatten().tolist() == [3]   # the second 7 looks after the 7
    assert not targets[:3].any()                            # first occurrences: no target


def test_head_scores_has_one_row_per_layer():
    weights = torch.softmax(torch.randn(2, 3, 4, 4), dim=-1)
    scores = head_scores([weights, weights], previous_token_targets(2, 4))
    assert scores.shape == (2, 3)
    assert ((scores >= 0) & (scores <= 1)).all()


def test_attention_to_rejects_mismatched_targets():
    with pytest.raises(ValueError, match="do not match"):
        attention_to(torch.ones(1, 2, 3, 3), torch.ones(1, 4, 4, dtype=torch.bool))


def test_layer_states_ends_where_hidden_states_does():
    torch.manual_seed(0)
    model = Encoder(TransformerConfig(vocab_size=20, norm_first=False)).eval()
    ids = torch.randint(20, (2, 6))
    states = layer_states(model, ids)
    assert len(states) == model.cfg.n_layers + 1
    assert torch.allclose(states[-1], hidden_states(model, ids), atol=1e-6)


def test_ablating_a_head_zeroes_its_slice_and_is_undone():
    torch.manual_seed(0)
    model = DecoderLM(TransformerConfig(vocab_size=20)).eval()
    ids = torch.randint(20, (1, 6))
    before, _ = model(ids)
    seen = []
    with ablate_heads(model, [(1, 2)]):
        hook = model.layers[1].self_attn.out_proj.register_forward_pre_hook(
            lambda m, args: seen.append(args[0].clone()))      # runs after the ablation's hook
        ablated, _ = model(ids)
        hook.remove()
    d_head = model.cfg.d_head
    assert (seen[0][..., 2 * d_head:3 * d_head] == 0).all()
    assert seen[0][..., :2 * d_head].abs().sum() > 0
    assert not torch.allclose(before, ablated)
    after, _ = model(ids)
    assert torch.allclose(before, after)


def test_ablate_heads_rejects_a_missing_head():
    model = DecoderLM(TransformerConfig(vocab_size=20))
    with pytest.raises(ValueError, match="outside"), ablate_heads(model, [(0, 9)]):
        pass


def test_ablating_every_head_equals_a_model_without_attention_output():
    torch.manual_seed(0)
    model = DecoderLM(TransformerConfig(vocab_size=20, n_layers=1, bias=False)).eval()
    ids = torch.randint(20, (1, 5))
    with ablate_heads(model, [(0, h) for h in range(model.cfg.n_heads)]):
        logits, _ = model(ids)
    x = model.embed(ids)
    x = x + model.layers[0].ff(model.layers[0].norm2(x))
    expected = model.final_norm(x) @ model.tok_emb.weight.T
    assert torch.allclose(logits, expected, atol=1e-5)
    assert F.mse_loss(logits, expected) < 1e-8
