"""Chat（对话）: a conversation written as one prompt, and the model's answer streamed back.

A chat model is a language model fine-tuned on conversations written in one fixed template, so
chatting is still next-token prediction: write the conversation in that template, end with the
header of the assistant's turn, and let the model continue until it writes the end-of-turn token.
SmolLM2 uses the ChatML template:

    <|im_start|>system
    You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
    <|im_start|>user
    What is the capital of France?<|im_end|>
    <|im_start|>assistant
                                            <- the model writes here, and ends with <|im_end|>
"""
from __future__ import annotations

import torch

from minillm.attention import KVCache
from minillm.data import pad_batch
from minillm.generate import check_prompt, eval_mode, generate, model_device, sample_next

# What SmolLM2's template (in its GGUF file) puts first when a conversation has no system message
SMOLLM2_SYSTEM_PROMPT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
ROLES = ("system", "user", "assistant")


def chat_prompt(messages, add_generation_prompt=True, default_system=SMOLLM2_SYSTEM_PROMPT):
    """A conversation in the ChatML template, as SmolLM2's chat template (and Hugging Face's
    apply_chat_template with it) writes it.

    messages: a list of {"role": "system" | "user" | "assistant", "content": str}.
    Each message becomes "<|im_start|>{role}\\n{content}<|im_end|>\\n". If the first message is
    not a system message, default_system comes first as one (None: no default).
    add_generation_prompt: end with "<|im_start|>assistant\\n", the start of the answer.
    """
    _check_messages(messages)
    turns = []
    if messages and messages[0]["role"] != "system" and default_system is not None:
        turns.append(_turn("system", default_system))
    turns += [_turn(m["role"], m["content"]) for m in messages]
    if add_generation_prompt:
        turns.append("<|im_start|>assistant\n")
    return "".join(turns)


@torch.no_grad()
def chat(model, tokenizer, messages, max_new_tokens=256, temperature=0.0, top_k=None,
         top_p=None, generator=None, end_token="<|im_end|>"):
    """Answer a conversation, yielding the answer's text piece by piece as it is generated:

        for piece in chat(model, tokenizer, [{"role": "user", "content": "Hi!"}]):
            print(piece, end="", flush=True)

    model: a DecoderLM; tokenizer: its BPETokenizer. The prompt is chat_prompt(messages); each
    step feeds only the new token through a KV cache. temperature=0 (the default) is greedy
    decoding; otherwise sample_next(logits, temperature, top_k, top_p, generator). Stops at
    end_token (not shown) or after max_new_tokens tokens. A character whose bytes are split
    over several tokens is yielded once all of them have arrived.
    """
    prompt = tokenizer.encode(chat_prompt(messages), allowed_special=True)
    end_id = tokenizer.token_to_id(end_token)
    ids = check_prompt([prompt], max_new_tokens, model.cfg.max_seq_len, model_device(model))
    cache = KVCache(model.cfg.n_layers)
    answer, shown = [], ""
    with eval_mode(model):
        for _ in range(max_new_tokens):
            logits, _ = model(ids, cache=cache, only_last=True)
            ids = sample_next(logits[:, -1], temperature, top_k, top_p, generator)[:, None]
            if ids.item() == end_id:
                break
            answer.append(ids.item())
            text = tokenizer.decode(answer)
            if not text.endswith("\ufffd"):        # else: wait for the rest of the character
                yield text[len(shown):]
                shown = text
    if tokenizer.decode(answer) != shown:
        yield tokenizer.decode(answer)[len(shown):]


def chat_batch(model, tokenizer, conversations, max_new_tokens=256, temperature=0.0, top_k=None,
               top_p=None, generator=None, end_token="<|im_end|>"):
    """The answers to several conversations at once: (answers, ended), a list of str and a list
    of bool, one per conversation; ended[i] is False for an answer cut at max_new_tokens tokens.

    Like chat (same arguments, conversations a list of message lists), but the prompts, of
    different lengths, are padded on the left into one batch and generated together: one step
    of a 135-million-weight model reads all its weights whether it serves one row or ten, so a
    batch costs little more than one answer (generate's is_token; rotary positions needed).
    """
    prompts = [tokenizer.encode(chat_prompt(m), allowed_special=True) for m in conversations]
    end_id = tokenizer.token_to_id(end_token)
    ids, is_token = pad_batch(prompts, end_id, side="left")
    out = generate(model, ids, max_new_tokens, temperature, top_k, top_p, stop_id=end_id,
                   generator=generator, is_token=is_token)
    rows = out[:, ids.shape[1]:].tolist()
    ended = [end_id in row for row in rows]
    return [tokenizer.decode(row[:row.index(end_id)] if done else row)
            for row, done in zip(rows, ended)], ended


def _turn(role, content):
    return f"<|im_start|>{role}\n{content}<|im_end|>\n"


def _check_messages(messages):
    if isinstance(messages, (str, dict)):
        raise ValueError('messages must be a list of {"role": ..., "content": ...} dicts, e.g. '
                         '[{"role": "user", "content": "Hello"}]')
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise ValueError(f'message {i} must be a dict with the keys "role" and "content", '
                             f"got {message!r}")
        if message["role"] not in ROLES:
            raise ValueError(f"message {i} has role {message['role']!r}; roles are {ROLES}")
        if not isinstance(message["content"], str):
            raise ValueError(f"message {i} has content of type "
                             f"{type(message['content']).__name__}, not str")
