"""The GPT shipped in assets/checkpoints/pydoc-gpt is what its documented command trains."""
import json
import shlex

import numpy as np
import pytest
import torch

from minillm import DecoderLM
from minillm.checkpoint import load_checkpoint
from minillm.cli import main
from minillm.data import concat_ids, eval_windows, pydoc_corpus, split_documents
from minillm.generate import generate
from minillm.objectives import causal_lm_loss
from minillm.pretrained import PYDOC_GPT as CHECKPOINT
from minillm.pretrained import load_pydoc_gpt
from minillm.tokenizers import load_tokenizer
from minillm.train import evaluate

STEPS_TO_REPRODUCE = 40


@pytest.fixture(scope="module")
def shipped():
    model, cfg, state = load_checkpoint(CHECKPOINT)
    settings = json.loads((CHECKPOINT / "run.json").read_text())
    return model, cfg, state, settings, load_tokenizer(CHECKPOINT / "tokenizer")


def _documented_command():
    """The `python -m minillm train ...` line of the folder's README, as argv after `-m minillm`."""
    readme = (CHECKPOINT / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if line.startswith("python -m minillm train"))
    return shlex.split(line)[3:]


def _option_values(argv):
    """{"corpus": "pydoc", "steps": "3000", ...} from ["train", "--corpus", "pydoc", ...]."""
    return {flag[2:].replace("-", "_"): value for flag, value in zip(argv[1::2], argv[2::2])}


def test_readme_command_has_exactly_the_settings_of_run_json(shipped):
    *_, settings, _ = shipped
    given = _option_values(_documented_command())
    assert given["out"] == "assets/checkpoints/pydoc-gpt"
    for name, value in settings.items():
        if name.endswith("_sha256"):   # what the run read (corpus, tokenizer), not a setting
            continue
        if value is None:
            assert name not in given
        else:
            assert type(value)(given[name]) == value, name


def test_shipped_checkpoint_is_a_gpt_with_its_tokenizer(shipped):
    model, cfg, state, settings, tokenizer = shipped
    assert isinstance(model, DecoderLM) and state["step"] == settings["steps"]
    assert cfg.vocab_size == tokenizer.vocab_size == settings["vocab_size"]
    prompt = torch.tensor([tokenizer.encode('The "try" statement')])
    text = tokenizer.decode(generate(model, prompt, 20, greedy=True)[0].tolist())
    assert text.startswith('The "try" statement') and len(text) > 40


def test_shipped_weights_score_the_validation_loss_recorded_at_the_last_step(shipped):
    model, _, state, settings, tokenizer = shipped
    _, valid_docs = split_documents(pydoc_corpus(), valid_fraction=0.1)
    valid_ids = concat_ids(valid_docs, tokenizer.encode, tokenizer.special_tokens["</s>"])
    batches = eval_windows(valid_ids, settings["seq_len"], settings["batch_size"])
    loss = evaluate(model, causal_lm_loss, batches[:settings["eval_batches"]])
    recorded = state["extra"]["history"]["eval_loss"][-1]
    assert loss == pytest.approx(recorded, abs=1e-4)
    assert f"perplexity is {np.exp(recorded):.1f} per token" in " ".join(
        (CHECKPOINT / "README.md").read_text(encoding="utf-8").split())


@pytest.mark.slow
def test_the_documented_command_reproduces_the_first_steps(shipped, tmp_path, capsys):
    *_, state, _, _ = shipped
    argv = _documented_command()
    argv[argv.index("--out") + 1] = str(tmp_path / "run")
    assert main([*argv, "--stop-after", str(STEPS_TO_REPRODUCE), "--no-progress"]) == 0
    _, _, ours = load_checkpoint(tmp_path / "run")
    shipped_loss = state["extra"]["history"]["loss"][:STEPS_TO_REPRODUCE]
    # bit for bit on the machine that made it; a few tenths of a percent on another CPU
    np.testing.assert_allclose(ours["extra"]["history"]["loss"], shipped_loss, rtol=0.01)


def test_load_pydoc_gpt_gives_the_checkpoint_in_eval_mode_with_its_tokenizer(shipped):
    model, tokenizer = load_pydoc_gpt()
    assert not model.training and tokenizer.vocab_size == shipped[1].vocab_size
    for name, weight in shipped[0].state_dict().items():
        assert torch.equal(model.state_dict()[name], weight), name
