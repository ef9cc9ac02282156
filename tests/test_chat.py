"""Chat: chat_prompt writes the ChatML template, and chat streams the answer that generation
gives, piece by piece, through the KV cache, holding back a character until all its bytes have
arrived. A tiny random model stands in for SmolLM2 (tests/test_smollm2.py has the real one)."""
import pytest
import torch
from _helpers import randomized

from minillm import TransformerConfig
from minillm.chat import SMOLLM2_SYSTEM_PROMPT, chat, chat_batch, chat_prompt
from minillm.generate import generate
from minillm.tokenizers import BPETokenizer
from minillm.transformer import DecoderLM

CHATML = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QUESTION = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def tiny():
    tokenizer = BPETokenizer.train("user assistant system 大语言模型 naïve café " * 20, 300, CHATML)
    cfg = TransformerConfig.llama_like(vocab_size=tokenizer.vocab_size, d_model=32, n_heads=4,
                                       n_kv_heads=2, n_layers=2, d_ff=48, max_seq_len=256)
    torch.manual_seed(0)
    return randomized(DecoderLM(cfg), seed=0, std=1.0).eval(), tokenizer


def test_chat_prompt_writes_chatml_with_the_default_system_prompt_first():
    assert chat_prompt(QUESTION) == (f"<|im_start|>system\n{SMOLLM2_SYSTEM_PROMPT}<|im_end|>\n"
                                     "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    system = [{"role": "system", "content": "Be brief."}] + QUESTION
    assert chat_prompt(system, add_generation_prompt=False) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
    assert chat_prompt(QUESTION, default_system=None).startswith("<|im_start|>user\n")
    assert chat_prompt([], add_generation_prompt=False) == ""


@pytest.mark.parametrize("max_new_tokens", [1, 7, 40])
def test_chat_streams_the_tokens_that_uncached_generation_gives(tiny, max_new_tokens):
    model, tokenizer = tiny
    pieces = list(chat(model, tokenizer, QUESTION, max_new_tokens=max_new_tokens))
    prompt = tokenizer.encode(chat_prompt(QUESTION), allowed_special=True)
    end = tokenizer.token_to_id("<|im_end|>")
    ids = generate(model, torch.tensor([prompt]), max_new_tokens, greedy=True, stop_id=end,
                   use_cache=False)[0, len(prompt):].tolist()
    answer = ids[:ids.index(end)] if end in ids else ids
    assert "".join(pieces) == tokenizer.decode(answer)
    # a piece never ends inside a character (random bytes may still be invalid UTF-8: '�')
    assert not any(piece.endswith("\ufffd") for piece in pieces[:-1])


def test_sampled_chat_repeats_with_the_same_generator(tiny):
    model, tokenizer = tiny
    runs = ["".join(chat(model, tokenizer, QUESTION, 20, temperature=1.0,
                         generator=torch.Generator().manual_seed(3))) for _ in range(2)]
    assert runs[0] == runs[1]


def test_chat_refuses_messages_that_are_not_a_conversation(tiny):
    model, tokenizer = tiny
    with pytest.raises(ValueError, match='keys "role" and "content"'):
        list(chat(model, tokenizer, [{"role": "user", "text": "Hi"}]))
    with pytest.raises(ValueError, match="content of type int"):
        chat_prompt([{"role": "user", "content": 3}])


def test_chat_batch_answers_each_conversation_as_chat_does_alone(tiny):
    model, tokenizer = tiny
    conversations = [QUESTION, [{"role": "user", "content": "naïve café 大语言模型 user"}],
                     [{"role": "system", "content": "Be brief."}] + QUESTION]
    for max_new_tokens in (3, 30):
        answers, ended = chat_batch(model, tokenizer, conversations, max_new_tokens)
        alone = ["".join(chat(model, tokenizer, c, max_new_tokens)) for c in conversations]
        assert answers == alone
        assert len(ended) == 3 and all(isinstance(e, bool) for e in ended)
