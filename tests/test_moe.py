"""The mixture-of-experts layer: routing, the balancing loss, and the layer against a naive loop."""
import pytest
import torch

from minillm import DecoderLM, TransformerConfig
from minillm.layers import FeedForward
from minillm.moe import (
    MoEFeedForward,
    load_balancing_loss,
    moe_aux_loss,
    moe_routes,
    top_k_routing,
    use_moe,
)


def _moe(n_experts=4, k=2, seed=0):
    torch.manual_seed(seed)
    moe = MoEFeedForward(8, 16, n_experts, k).double()
    with torch.no_grad():
        for p in moe.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return moe


def test_top_k_routing_picks_the_most_probable_experts():
    logits = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 1.0]])
    gates, experts, probs = top_k_routing(logits, 2)
    assert experts.tolist() == [[1, 2], [0, 2]]
    assert torch.allclose(probs.sum(-1), torch.ones(2))
    assert torch.allclose(gates, probs.gather(1, experts))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_moe_equals_a_naive_loop_over_the_chosen_experts(k):
    moe = _moe(n_experts=4, k=k)
    x = torch.randn(2, 5, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = moe(x)
    probs = torch.softmax(moe.router(x), dim=-1)
    expected = torch.zeros_like(x)
    for b in range(2):
        for t in range(5):
            top = probs[b, t].argsort(descending=True)[:k]
            for e in top:
                expected[b, t] += probs[b, t, e] * moe.experts[e](x[b, t])
    torch.testing.assert_close(y, expected)
    assert moe.last_experts.shape == (2, 5, k)


def test_one_expert_with_k_1_is_a_plain_feed_forward():
    moe = _moe(n_experts=1, k=1)
    ff = FeedForward(8, 16).double()
    ff.load_state_dict(moe.experts[0].state_dict())
    x = torch.randn(3, 4, 8, dtype=torch.float64)
    torch.testing.assert_close(moe(x), ff(x))
    assert moe.aux_loss.item() == pytest.approx(1.0)


def test_load_balancing_loss_on_a_hand_made_case():
    # 4 tokens, 2 experts: 3 go to expert 0, 1 to expert 1 -> f = (0.75, 0.25)
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    experts = torch.tensor([[0], [0], [0], [1]])
    # P = (0.65, 0.35): 2 * (0.75 * 0.65 + 0.25 * 0.35) = 1.15
    assert load_balancing_loss(probs, experts).item() == pytest.approx(1.15)
    uniform = torch.full((4, 2), 0.5)
    assert load_balancing_loss(uniform, torch.tensor([[0], [1], [0], [1]])).item() == 1.0


def test_balancing_loss_gradient_reaches_the_router():
    moe = _moe()
    moe(torch.randn(6, 8, dtype=torch.float64))
    moe.aux_loss.backward()
    assert moe.router.weight.grad.abs().sum() > 0


def test_use_moe_puts_an_moe_in_every_layer_and_trains():
    cfg = TransformerConfig.tiny(vocab_size=50, n_layers=2, max_seq_len=16)
    torch.manual_seed(0)
    model = use_moe(DecoderLM(cfg), n_experts=3, k=1)
    ids = torch.randint(50, (2, 10))
    logits, _ = model(ids)
    assert logits.shape == (2, 10, 50)
    assert all(isinstance(layer.ff, MoEFeedForward) for layer in model.layers)
    assert [r.shape for r in moe_routes(model)] == [(2, 10, 1)] * 2
    loss = logits.logsumexp(-1).mean() + 0.01 * moe_aux_loss(model)
    loss.backward()
    assert model.layers[0].ff.router.weight.grad is not None


def test_bad_input_errors():
    with pytest.raises(ValueError, match="k must lie"):
        MoEFeedForward(8, 16, n_experts=2, k=3)
    with pytest.raises(ValueError, match="n_experts"):
        MoEFeedForward(8, 16, n_experts=0)
    with pytest.raises(ValueError, match="d_model"):
        _moe()(torch.randn(2, 7, dtype=torch.float64))
    with pytest.raises(ValueError, match="tokens, n_experts"):
        top_k_routing(torch.randn(2, 3, 4), 1)
    cfg = TransformerConfig.tiny(vocab_size=50)
    with pytest.raises(ValueError, match="no MoE layer"):
        moe_aux_loss(DecoderLM(cfg))
