"""Fine-tuning: heads on pretrained bodies, freezing, LoRA, soft prompts, instruction-tuning loss,
multi-task heads and early stopping train what they claim to train, and nothing else."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from minillm.config import TransformerConfig
from minillm.data import pad_batch
from minillm.finetune import (
    EarlyStopping,
    LoRALinear,
    MultiTaskModel,
    SequenceClassifier,
    SoftPrompt,
    add_lora,
    classification_batch,
    classification_loss,
    count_parameters,
    freeze,
    hidden_states,
    instruction_batch,
    instruction_loss,
    lm_logits,
    loss_on_response,
    merge_lora,
    unfreeze,
    unfreeze_last_layers,
)
from minillm.grammar import sentiment_pairs
from minillm.layers import Linear
from minillm.objectives import causal_lm_loss
from minillm.pretrained import load_minilm
from minillm.train import TrainConfig, train
from minillm.transformer import DecoderLM, Encoder

VOCAB = 40


def decoder(seed=0, **changes):
    torch.manual_seed(seed)
    return DecoderLM(TransformerConfig.tiny(vocab_size=VOCAB, max_seq_len=32, **changes))


def llama(seed=0):
    torch.manual_seed(seed)
    return DecoderLM(TransformerConfig.llama_like(vocab_size=VOCAB, max_seq_len=32))


def encoder(seed=0):
    torch.manual_seed(seed)
    return Encoder(TransformerConfig.bert_like(vocab_size=VOCAB, max_seq_len=32))


def random_ids(batch=3, seq=7, seed=0):
    return torch.randint(1, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(seed))


def ragged_batch(pad_side="right"):
    """Three sequences of lengths 5, 3, 7 (pad id 0), and the sequences themselves."""
    seqs = [random_ids(1, n, seed=n)[0] for n in (5, 3, 7)]
    ids, is_token = pad_batch(seqs, 0, side=pad_side)
    return ids, is_token, seqs


def adam_steps(params, loss_fn, steps, lr=1e-2):
    """Run Adam on params; return the losses seen."""
    optimizer = torch.optim.Adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def state_copy(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- running a body without its head -------------------------------------------------------
@pytest.mark.parametrize("make", [decoder, llama], ids=["gpt2_like", "llama_like"])
def test_hidden_states_and_lm_logits_equal_the_decoders_forward(make):
    model = make()
    ids, is_token, _ = ragged_batch()
    expected, _ = model(ids, is_token)
    assert torch.allclose(lm_logits(model, hidden_states(model, ids, is_token)), expected,
                          atol=1e-5)


def test_hidden_states_equal_the_encoders_forward():
    model = encoder()
    ids, is_token, _ = ragged_batch()
    expected, _ = model(ids, is_token)
    assert torch.allclose(hidden_states(model, ids, is_token), expected, atol=1e-5)


# ---- task heads -----------------------------------------------------------------------------
@pytest.mark.parametrize("make, pad_side", [(encoder, "right"), (decoder, "right"),
                                            (llama, "left")])
def test_padding_does_not_change_a_sentences_class_scores(make, pad_side):
    """Mean pooling skips padding; "last" pooling finds the last real token on either side
    (left padding keeps positions only with rotary, i.e. relative, positions)."""
    torch.manual_seed(1)
    model = SequenceClassifier(make(), 3)
    torch.nn.init.normal_(model.head[1].weight)
    ids, is_token, seqs = ragged_batch(pad_side)
    batched = model(ids, is_token)
    alone = torch.cat([model(seq[None]) for seq in seqs])
    assert torch.allclose(batched, alone, atol=1e-5)


def test_classification_batch_pads_cuts_and_refuses_a_missing_label():
    class Letters:                                  # a tokenizer: one id per letter
        def encode(self, text):
            return [ord(c) - 96 for c in text]
    ids, is_token, labels = classification_batch(["abc", "d", "efghij"], [1, 0, 1], Letters(),
                                                 pad_id=0, max_tokens=4)
    assert ids.tolist() == [[1, 2, 3, 0], [4, 0, 0, 0], [5, 6, 7, 8]]
    assert is_token.sum(1).tolist() == [3, 1, 4] and labels.tolist() == [1, 0, 1]
    assert labels.dtype == torch.long
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        classification_batch(["a", "b"], [1], Letters(), pad_id=0)


def test_default_pooling_is_last_for_a_decoder_and_mean_for_an_encoder():
    assert SequenceClassifier(decoder(), 2).pooling == "last"
    assert SequenceClassifier(encoder(), 2).pooling == "mean"
    assert SequenceClassifier(encoder(), 2, pooling="first").pooling == "first"


def test_a_new_head_starts_at_chance():
    model = SequenceClassifier(encoder(), 4)
    ids, is_token, _ = ragged_batch()
    loss = classification_loss(model, (ids, is_token, torch.tensor([0, 1, 3])))
    assert loss.item() == pytest.approx(math.log(4))


def test_train_loop_fits_a_head_on_a_frozen_body_and_leaves_the_body_alone():
    model = SequenceClassifier(freeze(encoder()), 2)
    body_before = state_copy(model.body)
    ids, is_token, _ = ragged_batch()
    batch = (ids, is_token, torch.tensor([0, 1, 1]))
    cfg = TrainConfig(steps=30, lr=5e-2, warmup_steps=0, eval_every=30, device="cpu")
    history = train(model, classification_loss, lambda step: batch, cfg, progress=False)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert same_state(body_before, state_copy(model.body))


def test_multitask_heads_share_the_body_and_train_only_their_own_head():
    model = MultiTaskModel(encoder(), {"sentiment": 2, "topic": 5})
    ids, is_token, _ = ragged_batch()
    assert model(ids, is_token, task="sentiment").shape == (3, 2)
    logits = model(ids, is_token, task="topic")
    assert logits.shape == (3, 5)
    F.cross_entropy(logits, torch.tensor([0, 4, 2])).backward()
    assert model.heads["topic"][1].weight.grad is not None
    assert model.heads["sentiment"][1].weight.grad is None
    assert model.body.layers[0].self_attn.q_proj.weight.grad is not None


@pytest.fixture(scope="module")
def minilm():
    return load_minilm()


def test_linear_probe_on_frozen_minilm_beats_chance_on_held_out_sentiment(minilm):
    """Head only, on genuine all-MiniLM-L6-v2 sentence vectors (mean pooling): the body is
    frozen, so its features are computed once and the head trains on them."""
    body, tokenizer = minilm
    pairs = sentiment_pairs(300, seed=0)
    ids, is_token = pad_batch([tokenizer.encode(p.en) for p in pairs], tokenizer.token_to_id(
        "[PAD]"))
    labels = torch.tensor([p.label for p in pairs])
    train_rows, test_rows = slice(0, 200), slice(200, 300)
    model = SequenceClassifier(freeze(body), 2)
    assert count_parameters(model) == 384 * 2 + 2
    with torch.no_grad():
        features = model.features(ids[train_rows], is_token[train_rows])

    def loss():
        return F.cross_entropy(model.head(features), labels[train_rows])

    losses = adam_steps(model.head.parameters(), loss, steps=60)
    model.eval()
    with torch.no_grad():
        predicted = model(ids[test_rows], is_token[test_rows]).argmax(dim=1)
    accuracy = (predicted == labels[test_rows]).float().mean().item()
    majority = max(labels[test_rows].float().mean().item(),
                   1 - labels[test_rows].float().mean().item())
    assert losses[-1] < 0.5 * losses[0]
    assert accuracy > majority + 0.15, (accuracy, majority)


# ---- what trains ----------------------------------------------------------------------------
def test_freezing_and_unfreezing_change_the_trainable_count():
    model = decoder()
    total = count_parameters(model, trainable_only=False)
    assert total == sum(p.numel() for p in model.parameters())  # the tied head counted once
    assert count_parameters(model) == total
    assert count_parameters(freeze(model)) == 0
    assert count_parameters(model, trainable_only=False) == total
    last = sum(p.numel() for p in model.layers[-1].parameters())
    final_norm = sum(p.numel() for p in model.final_norm.parameters())
    assert count_parameters(unfreeze_last_layers(model, 1)) == last + final_norm
    assert count_parameters(unfreeze_last_layers(model, 0)) == 0
    assert count_parameters(unfreeze(model)) == total


# ---- LoRA -----------------------------------------------------------------------------------
def test_lora_layer_starts_equal_to_its_base():
    torch.manual_seed(0)
    base = Linear(16, 8)
    lora = LoRALinear(base, rank=2, alpha=4)
    x = torch.randn(5, 3, 16)
    assert torch.equal(lora(x), base(x))
    assert torch.count_nonzero(lora.lora_A) > 0 and torch.count_nonzero(lora.lora_B) == 0
    assert not base.weight.requires_grad and not base.bias.requires_grad
    assert count_parameters(lora) == 2 * 16 + 8 * 2


def test_add_lora_wraps_the_targets_and_keeps_the_model_output():
    model = decoder()
    ids = random_ids()
    before, _ = model(ids)
    params = add_lora(model, rank=4, alpha=8)
    n_layers, d = model.cfg.n_layers, model.cfg.d_model
    assert isinstance(model.layers[0].self_attn.q_proj, LoRALinear)
    assert isinstance(model.layers[0].self_attn.v_proj, LoRALinear)
    assert not isinstance(model.layers[0].self_attn.k_proj, LoRALinear)
    assert len(params) == n_layers * 2 * 2
    assert count_parameters(model) == sum(p.numel() for p in params) == n_layers * 2 * 4 * 2 * d
    assert torch.equal(model(ids)[0], before)


def test_only_lora_parameters_train_and_the_loss_falls():
    model = decoder()
    frozen_before = state_copy(model)
    params = add_lora(model, rank=4, alpha=8, targets=("q_proj", "v_proj", "up", "down"))
    x, y = random_ids(4, 12, seed=1), random_ids(4, 12, seed=2)
    losses = adam_steps(params, lambda: causal_lm_loss(model, (x, y)), steps=40)
    assert losses[-1] < 0.8 * losses[0], losses[::10]
    lora_ids = {id(p) for p in params}
    for name, p in model.named_parameters():
        if id(p) in lora_ids:
            assert p.grad is not None, name
        else:
            assert p.grad is None and not p.requires_grad, name
    base_now = {k.replace(".base.", "."): v for k, v in model.state_dict().items()
                if "lora_" not in k}
    assert same_state(frozen_before, base_now)


@pytest.mark.parametrize("make, targets", [
    (decoder, ("q_proj", "v_proj", "out_proj")),
    (llama, ("gate", "lm_head")),  # an untied head: the model reads lm_head.weight directly
])
def test_merge_lora_keeps_outputs_and_gives_back_a_plain_model(make, targets):
    model = make()
    params = add_lora(model, rank=2, alpha=4, targets=targets)
    torch.manual_seed(3)
    with torch.no_grad():
        for p in params:
            p.normal_(0, 0.1)  # a LoRA that has learned something
    ids = random_ids()
    with_lora, _ = model(ids)
    assert not torch.allclose(with_lora, make()(ids)[0], atol=1e-3)  # the update is used
    merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert torch.allclose(model(ids)[0], with_lora, atol=1e-5)
    plain = make(seed=9)
    plain.load_state_dict(model.state_dict())  # the original keys: loadable into a fresh model
    assert torch.allclose(plain(ids)[0], with_lora, atol=1e-5)


# ---- prompt tuning --------------------------------------------------------------------------
def test_soft_prompt_trains_only_the_prompt_and_the_loss_falls():
    # larger weights than a fresh model's 0.02, whose near-uniform output no prompt can steer
    model = decoder().init_weights(std=0.3)
    model_before = state_copy(model)
    soft = SoftPrompt(model, n_virtual_tokens=4)
    assert count_parameters(soft) == 4 * model.cfg.d_model
    x = random_ids(4, 10, seed=1)
    y = torch.full_like(x, 7)  # a task a prompt can steer: "always answer 7"
    losses = adam_steps([soft.prompt], lambda: causal_lm_loss(soft, (x, y)), steps=30, lr=5e-2)
    assert losses[-1] < 0.5 * losses[0], losses[::10]
    assert soft.prompt.grad is not None
    assert all(p.grad is None for p in model.parameters())
    assert same_state(model_before, state_copy(model))


def test_soft_prompt_returns_the_real_tokens_only_and_respects_padding():
    soft = SoftPrompt(encoder(), n_virtual_tokens=3)
    ids, is_token, seqs = ragged_batch()
    hidden, _ = soft(ids, is_token)
    assert hidden.shape == (3, ids.shape[1], soft.model.cfg.d_model)
    alone, _ = soft(seqs[0][None])
    assert torch.allclose(hidden[0, :len(seqs[0])], alone[0], atol=1e-5)


def test_soft_prompt_can_start_from_real_token_embeddings():
    model = decoder()
    soft = SoftPrompt(model, 2, init_ids=[5, 7])
    assert torch.equal(soft.prompt.detach(), model.tok_emb.weight[[5, 7]])


# ---- instruction tuning ---------------------------------------------------------------------
def test_loss_on_response_equals_the_manual_mean_over_response_tokens():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 11)
    targets = torch.randint(0, 11, (2, 5))
    mask = torch.tensor([[False, False, True, True, False], [False, True, True, True, True]])
    logp = torch.log_softmax(logits, dim=-1)
    manual = -sum(logp[b, t, targets[b, t]] for b in range(2) for t in range(5) if mask[b, t])
    manual = manual / mask.sum()
    assert torch.allclose(loss_on_response(logits, targets, mask), manual, atol=1e-6)
    assert loss_on_response(logits, targets, torch.zeros_like(mask)).item() == 0.0


def test_instruction_batch_scores_only_the_response():
    x, y, mask = instruction_batch([([1, 2, 3], [4, 5]), ([6], [7, 8, 9])], pad_id=0)
    assert x.tolist() == [[1, 2, 3, 4], [6, 7, 8, 0]]
    assert y.tolist() == [[2, 3, 4, 5], [7, 8, 9, 0]]
    assert mask.tolist() == [[False, False, True, True], [True, True, True, False]]
    model = decoder()
    logits, _ = model(x)
    assert torch.allclose(instruction_loss(model, (x, y, mask)),
                          F.cross_entropy(logits[mask], y[mask]), atol=1e-6)


# ---- early stopping -------------------------------------------------------------------------
def test_early_stopping_waits_patience_evaluations_without_improvement():
    stopper = EarlyStopping(patience=2, min_delta=0.05)
    decisions = [stopper.step(loss) for loss in (3.0, 2.0, 1.98, 2.5, 1.9, 1.95, 1.94)]
    # 1.98 is within min_delta of 2.0, so it does not count as better
    assert decisions == [False, False, False, True, False, False, True]
    assert stopper.best == 1.9 and stopper.best_step == 5


def test_early_stopping_restores_the_best_weights():
    model = Linear(3, 2)
    stopper = EarlyStopping(patience=1)
    stopper.step(1.0, model)
    best = state_copy(model)
    with torch.no_grad():
        model.weight.add_(1.0)
    assert stopper.step(1.5, model)
    stopper.restore(model)
    assert same_state(best, state_copy(model))


# ---- clear errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("make_bad, message", [
    (lambda: LoRALinear(Linear(8, 8), rank=0), "rank must be an integer in"),
    (lambda: LoRALinear(Linear(8, 4), rank=5), r"rank must be an integer in \[1, 4\]"),
    (lambda: add_lora(decoder(), targets=("query",)), "no Linear in the model is named"),
    (lambda: merge_lora(decoder()), "no LoRALinear to merge"),
    (lambda: SequenceClassifier(encoder(), 1), "n_classes >= 2"),
    (lambda: SequenceClassifier(decoder(), 2, pooling="first"), "first token sees only"),
    (lambda: SequenceClassifier(encoder(), 2, pooling="max"), "pooling must be one of"),
    (lambda: SequenceClassifier(Linear(4, 4), 2), "must be a minillm Encoder or DecoderLM"),
    (lambda: MultiTaskModel(encoder(), {"a": 2})(random_ids(), task="b"), "unknown task 'b'"),
    (lambda: unfreeze_last_layers(decoder(), 3), r"k must lie in \[0, 2\]"),
    (lambda: SoftPrompt(decoder(), 0), "n_virtual_tokens must be a positive integer"),
    (lambda: loss_on_response(torch.zeros(1, 2, 3), torch.zeros(1, 2, dtype=torch.long),
                              torch.ones(1, 2)), "response_mask must be boolean"),
    (lambda: instruction_batch([([], [1])], 0), "pair 0 has an empty prompt"),
    (lambda: EarlyStopping(patience=0), "patience must be a positive integer"),
    (lambda: EarlyStopping().restore(Linear(2, 2)), "no weights were saved"),
])
def test_bad_input_gets_a_clear_error(make_bad, message):
    with pytest.raises(ValueError, match=message):
        make_bad()
