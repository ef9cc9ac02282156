"""The genuine pretrained all-MiniLM-L6-v2, loaded into minillm's own Encoder, computes what
Hugging Face's BertModel computes: hidden states, attention maps and sentence embeddings."""
from __future__ import annotations

import pytest
import torch

from minillm.convert import max_abs_diff
from minillm.pretrained import load_minilm, minilm_folder, sentence_embeddings

transformers = pytest.importorskip("transformers")

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The attention weights of every head sum to one.",
    "def forward(self, x): return self.proj(x)  # 大语言模型",
]


@pytest.fixture(scope="module")
def ours():
    return load_minilm()


@pytest.fixture(scope="module")
def reference():
    folder = minilm_folder()
    model = transformers.AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    return model, transformers.AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def batch(reference):
    _, hf_tokenizer = reference
    return hf_tokenizer(SENTENCES, padding=True, return_tensors="pt")


def test_minilm_hidden_states_and_attention_equal_hugging_face(ours, reference, batch):
    encoder, _ = ours
    model, _ = reference
    is_token = batch["attention_mask"].bool()
    with torch.no_grad():
        want = model(**batch, output_attentions=True)
        hidden, attentions = encoder(batch["input_ids"], is_token, batch["token_type_ids"],
                                     need_weights=True)
    real = is_token[..., None]
    assert max_abs_diff(hidden * real, want.last_hidden_state * real) <= 1e-5
    assert len(attentions) == len(want.attentions) == 6
    for mine, theirs in zip(attentions, want.attentions):   # (batch, 12, seq, seq)
        rows = is_token[:, None, :, None]                   # padded queries: conventions differ
        assert max_abs_diff(mine * rows, theirs * rows) <= 1e-5


def test_minilm_tokenizer_gives_hugging_faces_ids(ours, batch):
    _, tokenizer = ours
    for sentence, ids, mask in zip(SENTENCES, batch["input_ids"], batch["attention_mask"]):
        assert tokenizer.encode(sentence) == ids[mask.bool()].tolist()


def test_minilm_sentence_embeddings_equal_hugging_faces_recipe(ours, reference, batch):
    model, _ = reference
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"][..., None].float()
    want = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    got = sentence_embeddings(*ours, SENTENCES)
    assert max_abs_diff(got, want) <= 1e-5
    cosine = float(got[0] @ got[1])
    assert cosine == pytest.approx(0.755, abs=0.01)   # the model card's example pair
    assert cosine > float(got[0] @ got[2])            # eating vs attention heads: unrelated


def test_sentence_embeddings_refuse_a_bare_string(ours):
    with pytest.raises(ValueError, match="list of sentences"):
        sentence_embeddings(*ours, "A man is eating food.")
