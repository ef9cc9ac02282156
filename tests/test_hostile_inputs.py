"""Hostile inputs: every bad setting, file or tensor fails with one ValueError that names what
was expected, at the place it is given, not with a traceback from deep inside torch or NumPy
(or, where a sensible answer exists, gives it). Grouped by the class of the issue that found them.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import minillm.np as mnp
from minillm import DecoderLM, Encoder, TransformerConfig
from minillm.checkpoint import load_checkpoint, save_checkpoint
from minillm.train import TrainConfig, make_optimizer

SMALL = TransformerConfig.tiny(vocab_size=20, d_model=16, n_heads=2, d_ff=32, max_seq_len=8)


def cases(table):
    """pytest.param(value, match, id=...) for a {id: (value, match)} table."""
    return [pytest.param(*value, id=name) for name, value in table.items()]


# ---- class 4: every setting range-checked where it is defined --------------------------------
MODEL_SETTINGS = {
    "norm_eps=0": ({"norm_eps": 0.0}, "norm_eps must be greater than 0"),
    "norm_eps<0": ({"norm_eps": -1e-5}, "norm_eps must be greater than 0"),
    "norm_eps=nan": ({"norm_eps": math.nan}, "norm_eps must be a finite number"),
    "norm_eps=inf": ({"norm_eps": math.inf}, "norm_eps must be a finite number"),
    "norm_eps=str": ({"norm_eps": "1e-5"}, "norm_eps must be a number"),
    "rope_base=0": ({"rope_base": 0.0}, "rope_base must be greater than 0"),
    "rope_base<0": ({"rope_base": -10000.0}, "rope_base must be greater than 0"),
    "rope_base=nan": ({"rope_base": math.nan}, "rope_base must be a finite number"),
    "d_model=float": ({"d_model": 16.0}, r"d_model must be an integer, got 16.0 \(float\)"),
    "n_layers=float": ({"n_layers": 2.5}, "n_layers must be an integer"),
    "vocab_size=bool": ({"vocab_size": True}, "vocab_size must be an integer"),
    "max_seq_len=str": ({"max_seq_len": "8"}, "max_seq_len must be an integer"),
    "d_ff=0": ({"d_ff": 0}, "d_ff must be a positive integer"),
    "n_heads=-2": ({"n_heads": -2}, "n_heads must be a positive integer"),
    "n_segments=-1": ({"n_segments": -1}, "n_segments must be an integer of at least 0"),
    "n_segments=float": ({"n_segments": 2.0}, "n_segments must be an integer"),
    "dropout=1": ({"dropout": 1.0}, r"dropout must lie in \[0, 1\)"),
    "dropout<0": ({"dropout": -0.1}, r"dropout must lie in \[0, 1\)"),
    "dropout=nan": ({"dropout": math.nan}, "dropout must be a finite number"),
    "dropout=str": ({"dropout": "0.1"}, "dropout must be a number"),
    "bias=str": ({"bias": "False"}, "bias must be True or False"),
    "norm_first=1": ({"norm_first": 1}, "norm_first must be True or False"),
    "tie_embeddings=None": ({"tie_embeddings": None}, "tie_embeddings must be True or False"),
    "embedding_norm=str": ({"embedding_norm": "yes"}, "embedding_norm must be True or False"),
}


@pytest.mark.parametrize("changes, match", cases(MODEL_SETTINGS))
def test_transformer_config_refuses(changes, match):
    with pytest.raises(ValueError, match=match):
        SMALL.replace(**changes)


TRAIN_SETTINGS = {
    "grad_clip<0": ({"grad_clip": -1.0}, "grad_clip must be 0 or more"),
    "grad_clip=nan": ({"grad_clip": math.nan}, "grad_clip must be a finite number"),
    "weight_decay<0": ({"weight_decay": -0.1}, "weight_decay must be 0 or more"),
    "weight_decay=nan": ({"weight_decay": math.nan}, "weight_decay must be a finite number"),
    "beta1=1": ({"betas": (1.0, 0.95)}, r"betas\[0\] must lie in \[0, 1\)"),
    "beta2<0": ({"betas": (0.9, -0.5)}, r"betas\[1\] must lie in \[0, 1\)"),
    "beta2=nan": ({"betas": (0.9, math.nan)}, r"betas\[1\] must be a finite number"),
    "betas=3": ({"betas": (0.9, 0.95, 0.99)}, r"betas must be a pair"),
    "betas=number": ({"betas": 0.9}, r"betas must be a pair"),
    "lr=nan": ({"lr": math.nan}, "lr must be a finite number"),
    "lr=inf": ({"lr": math.inf}, "lr must be a finite number"),
    "lr=0": ({"lr": 0.0}, "lr must be greater than 0"),
    "lr=str": ({"lr": "3e-4"}, "lr must be a number"),
    "warmup<0": ({"warmup_steps": -1}, "warmup_steps must be an integer of at least 0"),
    "warmup=float": ({"warmup_steps": 5.5}, "warmup_steps must be an integer"),
    "steps=float": ({"steps": 100.0}, "steps must be an integer"),
    "steps=0": ({"steps": 0}, "steps must be a positive integer"),
    "batch_size=float": ({"batch_size": 8.0}, "batch_size must be an integer"),
    "log_every=0": ({"log_every": 0}, "log_every must be a positive integer"),
    "eval_every=None": ({"eval_every": None}, "eval_every must be an integer"),
    "seed=float": ({"seed": 0.5}, "seed must be an integer"),
    "min_lr_ratio=nan": ({"min_lr_ratio": math.nan}, "min_lr_ratio must be a finite number"),
    "min_lr_ratio>1": ({"min_lr_ratio": 1.5}, r"min_lr_ratio must lie in \[0, 1\]"),
}


@pytest.mark.parametrize("changes, match", cases(TRAIN_SETTINGS))
def test_train_config_refuses(changes, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**changes)


def test_grad_clip_none_and_zero_still_mean_no_clipping():
    assert TrainConfig(grad_clip=None).grad_clip is None
    assert TrainConfig(grad_clip=0).grad_clip == 0


def saved(folder, model=None, cfg=SMALL):
    torch.manual_seed(0)
    model = DecoderLM(cfg) if model is None else model
    save_checkpoint(folder, model, cfg, step=1)
    return folder


def edit_header(folder, edit):
    path = folder / "config.json"
    header = json.loads(path.read_text())
    edit(header)
    path.write_text(json.dumps(header))


@pytest.mark.parametrize("field", ["norm_eps", "rope_base", "tie_embeddings", "dropout"])
def test_load_refuses_a_config_json_with_a_missing_field_and_names_it(tmp_path, field):
    edit_header(saved(tmp_path), lambda header: header["config"].pop(field))
    with pytest.raises(ValueError, match=f"lacks the TransformerConfig fields {field}"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("field, value, match", [
    ("norm_eps", -1.0, "norm_eps must be greater than 0"),
    ("d_model", 16.5, "d_model must be an integer"),
    ("dropout", 2.0, r"dropout must lie in \[0, 1\)"),
])
def test_load_refuses_a_config_json_with_a_value_out_of_range(tmp_path, field, value, match):
    edit_header(saved(tmp_path), lambda header: header["config"].update({field: value}))
    with pytest.raises(ValueError, match=f"'config' is not a TransformerConfig .*{match}"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("asked", [Encoder, "Encoder", "MaskedLMModel"])
def test_load_refuses_a_decoder_checkpoint_asked_for_as_another_class(tmp_path, asked):
    saved(tmp_path)
    with pytest.raises(ValueError, match="holds a DecoderLM, not a"):
        load_checkpoint(tmp_path, model_class=asked)


def test_save_refuses_a_config_that_is_not_the_models(tmp_path):
    with pytest.raises(ValueError, match=r"model_cfg is not the config this DecoderLM was built "
                                         r"from: d_ff=64 \(the model has 32\)"):
        save_checkpoint(tmp_path, DecoderLM(SMALL), SMALL.replace(d_ff=64))
    assert not tmp_path.joinpath("config.json").exists()


def test_save_refuses_a_config_that_is_not_a_transformer_config(tmp_path):
    with pytest.raises(ValueError, match="model_cfg must be a TransformerConfig, got dict"):
        save_checkpoint(tmp_path, DecoderLM(SMALL), SMALL.to_dict())


def test_a_config_json_that_is_not_an_object_is_refused(tmp_path):
    (saved(tmp_path) / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="holds a JSON list, not the object"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, bool])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_numpy_gelu_on_integers_equals_gelu_on_the_same_floats(dtype, approximate):
    x = np.array([0, 1, 2, 100, 127], dtype=dtype)
    expected = mnp.gelu(x.astype(np.float64), approximate)
    assert np.array_equal(mnp.gelu(x, approximate), expected)
    assert np.array_equal(mnp.gelu_backward(np.ones(5), x, approximate),
                          mnp.gelu_backward(np.ones(5), x.astype(np.float64), approximate))


# ---- classes 3 and 5: the command line checks everything first, and resume verifies ---------
@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    """40 short paragraphs of made-up prose: enough for 16-token windows."""
    words = "the model reads a token and guesses the next one from those before it".split()
    paragraphs = [" ".join(words[i % 7:] + words[:i % 7]) + f" ({i})." for i in range(40)]
    path = tmp_path_factory.mktemp("corpus") / "prose.txt"
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    return path


def train_argv(corpus_file, out, *extra):
    return ["train", "--corpus", str(corpus_file), "--d-model", "16", "--n-heads", "2",
            "--n-layers", "1", "--seq-len", "16", "--batch-size", "4", "--steps", "6",
            "--warmup", "2", "--lr", "1e-2", "--eval-every", "2", "--eval-batches", "2",
            "--device", "cpu", "--no-progress", "--threads", "1", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def run(corpus_file, tmp_path_factory):
    """An uninterrupted 6-step run, checkpointed every 2 steps."""
    from minillm.cli import main

    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(train_argv(corpus_file, out)) == 0
    return out


def fails_in_one_line(capsys, argv, message, status=1):
    """main(argv) returns status with one line on stderr that contains message."""
    from minillm.cli import main

    capsys.readouterr()
    assert main(argv) == status
    err = capsys.readouterr().err
    assert err.startswith(f"python -m minillm {argv[0]}: ") and message in err, err
    assert "Traceback" not in err and err.count("\n") == 1, err


NEW_RUN_OPTIONS = {
    "stop-after=0": (["--stop-after", "0"], "--stop-after must be at least 1, got 0"),
    "stop-after<0": (["--stop-after", "-3"], "--stop-after must be at least 1"),
    "dropout=nan": (["--dropout", "nan"], "--dropout must be a finite number"),
    "dropout=1.5": (["--dropout", "1.5"], "--dropout must lie in [0, 1)"),
    "dropout=inf": (["--dropout", "inf"], "--dropout must be a finite number"),
    "lr=nan": (["--lr", "nan"], "--lr must be a finite number"),
    "lr=-1": (["--lr", "-1"], "--lr must be greater than 0"),
    "lr=0": (["--lr", "0"], "--lr must be greater than 0"),
    "weight-decay<0": (["--weight-decay", "-0.1"], "--weight-decay must be 0 or more"),
    "weight-decay=nan": (["--weight-decay", "nan"], "--weight-decay must be a finite number"),
    "warmup<0": (["--warmup", "-1"], "--warmup must be an integer of at least 0"),
    "seq-len=1": (["--seq-len", "1"], "--seq-len must be at least 2"),
    "batch-size=0": (["--batch-size", "0"], "--batch-size must be at least 1"),
    "eval-batches=0": (["--eval-batches", "0"], "--eval-batches must be at least 1"),
    "d-model=0": (["--d-model", "0"], "--d-model must be a positive integer"),
    "n-layers=0": (["--n-layers", "0"], "--n-layers must be a positive integer"),
    "d-ff=0": (["--d-ff", "0"], "--d-ff must be a positive integer"),
    "device=tpu": (["--device", "tpu"], "unknown device 'tpu'"),
    "corpus=folder": (["--corpus", "."], "is neither 'pydoc', 'stdlib' nor a text file"),
}


@pytest.mark.parametrize("extra, message", cases(NEW_RUN_OPTIONS))
def test_a_bad_train_option_writes_nothing_so_the_corrected_command_runs(
        extra, message, corpus_file, tmp_path, capsys):
    out = tmp_path / "new"
    fails_in_one_line(capsys, train_argv(corpus_file, out, *extra), message)
    assert not out.exists() or list(out.iterdir()) == []


def test_after_a_refused_command_the_corrected_one_is_not_refused(corpus_file, tmp_path,
                                                                   capsys):
    from minillm.cli import main

    out = tmp_path / "new"
    fails_in_one_line(capsys, train_argv(corpus_file, out, "--dropout", "nan"), "--dropout")
    assert main(train_argv(corpus_file, out, "--stop-after", "2")) == 0


def test_out_naming_a_file_is_refused(corpus_file, tmp_path, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    fails_in_one_line(capsys, train_argv(corpus_file, tmp_path / "a-file"),
                      "is a file: give a folder for the run")


def test_out_inside_a_file_is_refused(corpus_file, tmp_path, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    fails_in_one_line(capsys, train_argv(corpus_file, tmp_path / "a-file" / "run"),
                      "cannot create the run folder")


@pytest.mark.parametrize("content, message", [
    ("[1, 2, 3]", "holds a JSON list, not the object of settings"),
    ('"steps"', "holds a JSON str, not the object of settings"),
    ("{not json", "is corrupt: it is not valid JSON"),
    ('{"steps": "many"}', "--steps must be an integer"),
    ('{"lr": null}', "--lr must be a number"),
    ('{"dropout": 2}', "--dropout must lie in [0, 1)"),
    ('{"corpus": 5}', "corpus must be 'pydoc', 'stdlib' or a file name"),
    ('{"preset": "huge"}', "preset one of"),
    ('{"threads": "many"}', "threads in run.json must be an integer"),
    ('{"threads": 0}', "threads in run.json must be a positive integer"),
])
def test_a_broken_run_json_is_refused_on_resume(run, tmp_path, capsys, content, message):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(run, out)
    if content.startswith("{") and content != "{not json":
        settings = json.loads((out / "run.json").read_text())
        settings.update(json.loads(content))
        content = json.dumps(settings)
    (out / "run.json").write_text(content)
    fails_in_one_line(capsys, ["train", "--out", str(out), "--resume", "--no-progress"],
                      message)


def stopped_copy(corpus_file, tmp_path, name="stopped"):
    from minillm.cli import main

    out = tmp_path / name
    assert main(train_argv(corpus_file, out, "--stop-after", "2")) == 0
    return out


def test_resume_refuses_a_corpus_whose_text_changed(corpus_file, tmp_path, capsys):
    import shutil

    corpus = tmp_path / "corpus.txt"
    shutil.copy(corpus_file, corpus)
    out = stopped_copy(corpus, tmp_path)
    corpus.write_text(corpus.read_text().replace("token", "word"))
    fails_in_one_line(capsys, ["train", "--out", str(out), "--resume", "--no-progress"],
                      "is not the text this run was trained on")


def test_resume_finds_a_relative_corpus_from_another_directory(corpus_file, run, tmp_path,
                                                               monkeypatch, capsys):
    from minillm.cli import main

    monkeypatch.chdir(corpus_file.parent)
    out = tmp_path / "relative"
    argv = train_argv(corpus_file, out, "--stop-after", "2")
    argv[argv.index("--corpus") + 1] = corpus_file.name
    assert main(argv) == 0
    assert json.loads((out / "run.json").read_text())["corpus"] == str(corpus_file)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--out", str(out), "--resume", "--no-progress"]) == 0
    for name, value in load_checkpoint(run)[0].state_dict().items():
        assert torch.equal(load_checkpoint(out)[0].state_dict()[name], value), name


def test_resume_refuses_another_thread_count(corpus_file, tmp_path, capsys):
    out = stopped_copy(corpus_file, tmp_path)
    fails_in_one_line(capsys, ["train", "--out", str(out), "--resume", "--threads", "2"],
                      "--threads 2 differs from the run's 1")


def test_resume_refuses_a_tokenizer_from_another_run(corpus_file, tmp_path, capsys):
    from minillm.tokenizers import CharTokenizer, load_tokenizer

    out = stopped_copy(corpus_file, tmp_path)
    own = load_tokenizer(out / "tokenizer")
    chars = [own.decode([i]) for i in range(len(own.special_tokens), own.vocab_size)]
    other = CharTokenizer.train("".join(chars[:-1]) + "~")   # as many tokens, one other
    assert other.vocab_size == own.vocab_size
    other.save(out / "tokenizer")
    fails_in_one_line(capsys, ["train", "--out", str(out), "--resume"],
                      "is not the tokenizer this run was trained with")


def test_resume_and_generate_refuse_a_tokenizer_of_another_size(corpus_file, tmp_path,
                                                                capsys):
    from minillm.tokenizers import CharTokenizer

    out = stopped_copy(corpus_file, tmp_path)
    CharTokenizer.train("abc").save(out / "tokenizer")
    fails_in_one_line(capsys, ["train", "--out", str(out), "--resume"],
                      "is not the tokenizer this run was trained with")
    fails_in_one_line(capsys, ["generate", "--run", str(out), "--prompt", "a"],
                      "it is not this run's tokenizer")


@pytest.mark.parametrize("extra, message", [
    (["--temperature", "nan"], "temperature must be a finite number"),
    (["--temperature", "inf"], "temperature must be a finite number"),
    (["--temperature", "-1"], "temperature must be >= 0"),
    (["--temperature", "1e-45"], "so small that logits / temperature overflows"),
    (["--top-k", "0"], "top_k must be at least 1"),
    (["--top-p", "0"], "top_p must lie in (0, 1]"),
    (["--top-p", "nan"], "top_p must lie in (0, 1]"),
    (["--max-new-tokens", "-1"], "--max-new-tokens must be 0 or more"),
    (["--device", "tpu"], "unknown device 'tpu'"),
])
def test_a_bad_generate_option_is_one_line(run, capsys, extra, message):
    fails_in_one_line(capsys, ["generate", "--run", str(run), "--prompt", "the", *extra],
                      message)


def test_generate_with_a_one_token_context_says_so_instead_of_hanging(run, tmp_path, capsys):
    import shutil

    out = tmp_path / "one-token"
    shutil.copytree(run / "tokenizer", out / "tokenizer")
    cfg = load_checkpoint(run)[1].replace(max_seq_len=1)
    save_checkpoint(out, DecoderLM(cfg), cfg, step=0)
    fails_in_one_line(capsys, ["generate", "--run", str(out), "--prompt", "t"],
                      "context is a single token")


def failing_loss(at_step, error):
    """causal_lm_loss, except that at training step at_step (1-based) it raises error or
    returns nan."""
    from minillm.objectives import causal_lm_loss

    calls = []

    def loss(model, batch):
        calls.extend([1] if model.training else [])   # evaluations do not count
        value = causal_lm_loss(model, batch)
        if len(calls) == at_step:
            if error is None:
                return value * float("nan")
            raise error
        return value
    return loss


def test_a_diverging_run_stops_in_one_line_and_keeps_the_last_good_checkpoint(
        corpus_file, tmp_path, capsys, monkeypatch):
    import minillm.cli

    monkeypatch.setattr(minillm.cli, "causal_lm_loss", failing_loss(5, None))
    out = tmp_path / "diverging"
    fails_in_one_line(capsys, train_argv(corpus_file, out),
                      "training diverged: the loss became nan at step 5")
    model, _, state = load_checkpoint(out)
    assert state["step"] == 4
    assert all(torch.isfinite(value).all() for value in model.state_dict().values())


def test_ctrl_c_says_where_it_stopped_and_resume_ends_like_an_uninterrupted_run(
        corpus_file, run, tmp_path, capsys, monkeypatch):
    import minillm.cli
    from minillm.cli import main

    out = tmp_path / "interrupted"
    with monkeypatch.context() as patch:
        patch.setattr(minillm.cli, "causal_lm_loss", failing_loss(4, KeyboardInterrupt()))
        fails_in_one_line(capsys, train_argv(corpus_file, out),
                          f"interrupted; the checkpoint in {out} holds step 2: continue with "
                          f"'python -m minillm train --out {out} --resume'", status=130)
    assert main(["train", "--out", str(out), "--resume", "--no-progress"]) == 0
    for name, value in load_checkpoint(run)[0].state_dict().items():
        assert torch.equal(load_checkpoint(out)[0].state_dict()[name], value), name


def test_ctrl_c_before_the_first_checkpoint_lets_the_same_command_start_again(
        corpus_file, tmp_path, capsys, monkeypatch):
    import minillm.cli
    from minillm.cli import main

    out = tmp_path / "early"
    with monkeypatch.context() as patch:
        patch.setattr(minillm.cli, "causal_lm_loss", failing_loss(1, KeyboardInterrupt()))
        fails_in_one_line(capsys, train_argv(corpus_file, out), "holds no checkpoint yet",
                          status=130)
    assert main(train_argv(corpus_file, out, "--stop-after", "2")) == 0


# ---- class 6: minillm speaks before torch or NumPy does ---------------------------------------
@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    return DecoderLM(SMALL).eval()


IDS = [[1, 5, 9, 2], [3, 3, 8, 0]]


@pytest.mark.parametrize("ids", [
    pytest.param(IDS, id="list"),
    pytest.param(np.array(IDS), id="numpy-int64"),
    pytest.param(np.array(IDS, dtype=np.int32), id="numpy-int32"),
    pytest.param(np.array(IDS, dtype=np.uint8), id="numpy-uint8"),
    pytest.param(np.array(IDS, dtype=np.uint16), id="numpy-uint16"),
    pytest.param(torch.tensor(IDS, dtype=torch.uint8), id="uint8"),
    pytest.param(torch.tensor(IDS, dtype=torch.int16), id="int16"),
    pytest.param(torch.tensor(IDS, dtype=torch.int8), id="int8"),
    pytest.param(torch.tensor(IDS, dtype=torch.int32), id="int32"),
])
def test_ids_as_lists_arrays_or_small_integers_give_the_int64_logits(lm, ids):
    expected = lm(torch.tensor(IDS))[0]
    assert torch.equal(lm(ids)[0], expected)


BAD_IDS = {
    "3-D": (torch.zeros(2, 3, 4, dtype=torch.long), r"ids must be \(batch, seq\), got shape "
                                                    r"\(2, 3, 4\)"),
    "1-D": (torch.zeros(4, dtype=torch.long), "ids must have at least 2 dimensions"),
    "ragged list": ([[1, 2], [3]], "ids must be a \\(batch, seq\\) array of integer token ids"),
    "strings": ([["a", "b"]], "ids must be a \\(batch, seq\\) array of integer token ids"),
    "None": (None, "ids must be a \\(batch, seq\\) array of integer token ids, got NoneType"),
    "float list": ([[1.0, 2.0]], "token ids must be integers, got dtype torch.float64"),
    "bool": (torch.ones(1, 3, dtype=torch.bool), "token ids must be integers, got dtype"),
    "mixed list": ([[1, 2.5]], "token ids must be integers"),
    "too large": ([[1, 20]], r"token ids must lie in \[0, 20\)"),
    "negative": (np.array([[-1, 2]]), r"token ids must lie in \[0, 20\)"),
    "empty": (torch.zeros(1, 0, dtype=torch.long), "empty sequence of token ids"),
    "too long": (torch.zeros(1, 9, dtype=torch.long), r"longer than the positional table "
                                                      r"\(max_seq_len=8\)"),
}


@pytest.mark.parametrize("ids, match", cases(BAD_IDS))
def test_bad_ids_are_refused_naming_what_was_expected(lm, ids, match):
    with pytest.raises(ValueError, match=match):
        lm(ids)


def test_is_token_as_a_list_works_and_a_wrong_shape_is_named(lm):
    ids = torch.tensor(IDS)
    flags = [[True, True, True, False], [True, True, True, True]]
    assert torch.equal(lm(ids, flags)[0], lm(ids, torch.tensor(flags))[0])
    with pytest.raises(ValueError, match=r"is_token of shape \(2, 3\) does not match ids"):
        lm(ids, [[True] * 3] * 2)


def test_an_attention_mask_given_as_a_list_works_and_an_int_one_is_refused():
    from minillm.attention import scaled_dot_product_attention

    q = k = v = torch.randn(1, 1, 3, 4)
    mask = [[True, False, False], [True, True, False], [True, True, True]]
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    assert torch.equal(out, scaled_dot_product_attention(q, k, v, torch.tensor(mask))[0])
    with pytest.raises(ValueError, match="mask must be boolean"):
        scaled_dot_product_attention(q, k, v, [[1, 0, 0], [1, 1, 0], [1, 1, 1]])


@pytest.mark.parametrize("segments, match", [
    ([[0, 0, 1, 1]], r"segments of shape \(1, 4\) do not match ids of shape \(2, 4\)"),
    ([[0, 0, 2, 1], [0, 0, 0, 0]], r"segments must lie in \[0, 2\)"),
    ([[0.0, 0, 1, 1], [0, 0, 0, 0]], "token ids must be integers"),
    ("0011", r"segments must be a \(batch, seq\) array of integer token ids"),
])
def test_bad_segments_are_refused(segments, match):
    encoder = Encoder(SMALL.replace(n_segments=2))
    with pytest.raises(ValueError, match=match):
        encoder(torch.tensor(IDS), segments=segments)


@pytest.mark.parametrize("targets, match", [
    (torch.zeros(2, 4), "targets must be integer class ids, got dtype torch.float32"),
    (torch.zeros(2, 4, dtype=torch.bool), "targets must be integer class ids"),
    (torch.zeros(2, 3, dtype=torch.long), r"targets of shape \(2, 3\) do not match logits"),
    (torch.zeros(2, 4, 1, dtype=torch.long), r"targets of shape \(2, 4, 1\) do not match"),
])
def test_bad_targets_are_refused_by_the_training_loss(lm, targets, match):
    from minillm.objectives import causal_lm_loss

    with pytest.raises(ValueError, match=match):
        causal_lm_loss(lm, (torch.tensor(IDS), targets))


def test_float_targets_are_refused_by_both_cross_entropies():
    import minillm.functional as F

    with pytest.raises(ValueError, match="targets must be integer class ids"):
        F.cross_entropy(torch.zeros(2, 5), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="targets must be integer class ids"):
        mnp.cross_entropy(np.zeros((2, 5)), np.array([1.0, 2.0]))


def test_a_kv_cache_reused_with_another_batch_size_is_refused(lm):
    from minillm.attention import KVCache

    cache = KVCache(SMALL.n_layers)
    lm(torch.tensor(IDS), cache=cache)
    with pytest.raises(ValueError, match=r"this KVCache holds keys of .* = \(2, 2, 4, 8\) but "
                                         r"the new ones are \(3, 2, 1, 8\)"):
        lm(torch.zeros(3, 1, dtype=torch.long), cache=cache)


def test_a_kv_cache_with_too_few_layers_is_refused(lm):
    from minillm.attention import KVCache

    with pytest.raises(ValueError, match="this KVCache holds 1 layers but the model needs 2"):
        lm(torch.tensor(IDS), cache=KVCache(1))


def test_a_kv_cache_from_another_model_is_refused(lm):
    from minillm.attention import KVCache

    other = DecoderLM(SMALL.replace(d_model=32, d_ff=64)).eval()
    cache = KVCache(SMALL.n_layers)
    other(torch.tensor(IDS), cache=cache)
    with pytest.raises(ValueError, match="a cache continues the same batch of sequences in "
                                         "the same model"):
        lm(torch.tensor(IDS)[:, :1], cache=cache)


def test_numpy_kv_cache_refuses_too_few_layers_and_another_batch():
    from minillm.np.attention import KVCache

    with pytest.raises(ValueError, match="this KVCache holds 1 layers but the model needs 2"):
        KVCache(1).check_fits(2)
    cache = KVCache(1)
    cache.append(0, np.zeros((2, 2, 3, 4)), np.zeros((2, 2, 3, 4)))
    with pytest.raises(ValueError, match=r"= \(2, 2, 3, 4\) but the new ones are \(1, 2, 1, 4\)"):
        cache.append(0, np.zeros((1, 2, 1, 4)), np.zeros((1, 2, 1, 4)))


def trained_checkpoint(folder):
    """A checkpoint with an optimizer that has taken a step."""
    torch.manual_seed(0)
    model = DecoderLM(SMALL)
    optimizer = make_optimizer(model, TrainConfig())
    model(torch.tensor(IDS))[0].square().mean().backward()
    optimizer.step()
    save_checkpoint(folder, model, SMALL, optimizer, step=1)
    return folder


def rewrite(folder, name, data):
    """Put data in folder/name and record its sha256 in config.json, as a save would: the
    corruption then gets past the check that the file is the one saved."""
    import hashlib

    (folder / name).write_bytes(data)
    edit_header(folder, lambda header: header["sha256"].update(
        {name: hashlib.sha256(data).hexdigest()}))


def optimizer_json(folder, edit):
    rest = json.loads((folder / "optimizer.json").read_text())
    edit(rest)
    return json.dumps(rest).encode()


CORRUPT_STATE = {
    "optimizer.json is a list": ("optimizer.json", lambda f: b"[]",
                                 "optimizer.json and optimizer.safetensors are corrupt"),
    "no param_groups": ("optimizer.json",
                        lambda f: optimizer_json(f, lambda r: r.pop("param_groups")),
                        "optimizer.json and optimizer.safetensors are corrupt"),
    "state is a list": ("optimizer.json",
                        lambda f: optimizer_json(f, lambda r: r.update(state=[1])),
                        "optimizer.json and optimizer.safetensors are corrupt"),
    "optimizer.json not JSON": ("optimizer.json", lambda f: b"{nope",
                                "optimizer.json is truncated or corrupt: it is not valid JSON"),
    "tensor with a bad name": ("optimizer.safetensors",
                               lambda f: safetensors_bytes({"moments": torch.zeros(2)}),
                               "optimizer.json and optimizer.safetensors are corrupt"),
    "rng without cpu": ("rng.safetensors",
                        lambda f: safetensors_bytes({"cuda": torch.zeros(4, dtype=torch.uint8)}),
                        "holds no 'cpu' generator state"),
    "rng of floats": ("rng.safetensors", lambda f: safetensors_bytes({"cpu": torch.zeros(4)}),
                      "the 'cpu' generator state must be a 1-D uint8 tensor"),
    "rng garbage bytes": ("rng.safetensors", lambda f: b"\x00" * 16,
                          "rng.safetensors is truncated or corrupt"),
}


def safetensors_bytes(tensors):
    from safetensors.torch import save

    return save(tensors)


@pytest.mark.parametrize("name, content, match", cases(CORRUPT_STATE))
def test_a_corrupt_optimizer_or_rng_file_is_refused_in_words(tmp_path, name, content, match):
    folder = trained_checkpoint(tmp_path)
    rewrite(folder, name, content(folder))
    with pytest.raises(ValueError, match=match):
        load_checkpoint(folder)


def test_a_short_cpu_generator_state_is_refused_when_it_is_set():
    from minillm.checkpoint import set_rng_states

    with pytest.raises(ValueError, match="the saved cpu generator state is not one"):
        set_rng_states({"cpu": torch.zeros(4, dtype=torch.uint8)})


def test_resuming_with_the_optimizer_state_of_another_model_is_refused(tmp_path):
    from minillm.train import train

    _, _, state = load_checkpoint(trained_checkpoint(tmp_path))
    other = DecoderLM(SMALL.replace(n_layers=1))
    with pytest.raises(ValueError, match="the checkpoint's optimizer state does not fit this "
                                         "model"):
        train(other, lambda m, b: m(b)[0].mean(), lambda step: torch.tensor(IDS),
              TrainConfig(steps=3, device="cpu"), state=state, progress=False)


def test_resuming_with_moments_of_other_shapes_is_refused(tmp_path):
    from minillm.train import train

    _, _, state = load_checkpoint(trained_checkpoint(tmp_path))
    other = DecoderLM(SMALL.replace(vocab_size=21))
    with pytest.raises(ValueError, match=r"its [mv] has shape \(20, 16\) for a "
                                         r"parameter of shape \(21, 16\)"):
        train(other, lambda m, b: m(b)[0].mean(), lambda step: torch.tensor(IDS),
              TrainConfig(steps=3, device="cpu"), state=state, progress=False)


def test_a_config_json_without_model_class_loads_as_the_class_asked_for(tmp_path):
    edit_header(saved(tmp_path), lambda header: header.pop("model_class"))
    assert type(load_checkpoint(tmp_path, model_class="DecoderLM")[0]) is DecoderLM


@pytest.mark.parametrize("need_weights", [True, False], ids=["explicit", "fused"])
def test_attention_with_zero_keys_is_refused(need_weights):
    from minillm.attention import scaled_dot_product_attention

    q, k = torch.randn(1, 1, 3, 4), torch.randn(1, 1, 0, 4)
    with pytest.raises(ValueError, match=r"k and v hold no keys \(seq_k=0"):
        scaled_dot_product_attention(q, k, k, need_weights=need_weights)


def test_numpy_attention_with_zero_keys_is_refused():
    with pytest.raises(ValueError, match=r"k and v hold no keys \(seq_k=0"):
        mnp.scaled_dot_product_attention(np.ones((3, 4)), np.ones((0, 4)), np.ones((0, 4)))


@pytest.mark.parametrize("need_weights", [True, False], ids=["explicit", "fused"])
def test_attention_with_mixed_dtypes_is_refused(need_weights):
    from minillm.attention import scaled_dot_product_attention

    q = torch.randn(1, 1, 3, 4)
    with pytest.raises(ValueError, match="q, k and v must share one dtype, got torch.float32, "
                                         "torch.float64 and torch.float32"):
        scaled_dot_product_attention(q, q.double(), q, need_weights=need_weights)
