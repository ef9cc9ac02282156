"""What every exercise checker promises, checked for all of them from one table.

A checker (minillm/exercises/<chapter>.py) takes the learner's answer, prints ✅ or ❌ with a hint
and returns true or false; it never raises, so an unsolved exercise does not stop "Run All".
The misconceptions each checker recognises are tested chapter by chapter, in
tests/test_exercises_<chapter>.py.
"""
import importlib
import inspect
from pathlib import Path

import pytest
from _helpers import load_solutions, rejects, unanswered

import minillm.exercises
from minillm.exercises import TODO

EXERCISES = [
    # chapter folder         checker                       the answer in chapters/NN-*/solutions.py
    ("01-language-models",   "check_sequence_prob",        "sequence_prob"),
    ("01-language-models",   "check_bigram_matrix",        "bigram_matrix"),
    ("01-language-models",   "check_perplexity",           "perplexity_of"),
    ("01-language-models",   "check_most_frequent_pair",   "most_frequent_pair"),
    ("02-attention",         "check_attention",            "my_attention"),
    ("02-attention",         "check_combined_mask",        "combined_mask"),
    ("02-attention",         "check_scale",                "scale"),
    ("02-attention",         "check_scores_grad",          "scores_grad"),
    ("03-transformer",       "check_rope_pairs",           "rope_pairs"),
    ("03-transformer",       "check_swiglu_d_ff",          "swiglu_d_ff"),
    ("03-transformer",       "check_article_mask",         "article_mask"),
    ("03-transformer",       "check_leak_test",            "leaks_future"),
    ("03-transformer",       "check_adam_update",          "adam_update"),
    ("04-pretraining",       "check_mask_one",             "mask_one"),
    ("04-pretraining",       "check_info_nce",             "info_nce"),
    ("04-pretraining",       "check_nucleus",              "nucleus"),
    ("04-pretraining",       "check_nsp_rule",             "predict_is_next"),
    ("05-fine-tuning",       "check_lora_parameters",      "lora_parameters"),
    ("05-fine-tuning",       "check_response_loss",        "response_loss"),
    ("05-fine-tuning",       "check_merge",                "merge"),
    ("05-fine-tuning",       "check_early_stop",           "early_stop"),
    ("06-applications",      "check_modified_precision",   "clipped_matches"),
    ("06-applications",      "check_aer",                  "aer"),
    ("06-applications",      "check_recall",               "recall_per_class"),
    ("06-applications",      "check_pass_at_k",            "pass_at_k"),
    ("07-efficiency",        "check_quantize_int8",        "quantize_int8"),
    ("07-efficiency",        "check_kv_cache_bytes",       "kv_cache_bytes"),
    ("07-efficiency",        "check_training_flops",       "training_flops"),
    ("07-efficiency",        "check_prune_mask",           "prune_mask"),
    ("07-efficiency",        "check_kd_loss",              "kd_loss"),
    ("08-interpretability",  "check_previous_token_score", "previous_token_score"),
    ("08-interpretability",  "check_induction_score",      "induction_score"),
    ("08-interpretability",  "check_number_mask",          "number_mask"),
    ("08-interpretability",  "check_rome_update",          "rome_update"),
    ("09-experts",           "check_route",                "route"),
    ("09-experts",           "check_balance_loss",         "balance_loss"),
    ("09-experts",           "check_patchify",             "patchify_2x2"),
    ("09-experts",           "check_moe_lm_params",        "moe_lm_params"),
    ("10-real-llm",          "check_bits_per_weight",      "bits_per_weight"),
    ("10-real-llm",          "check_contextual_threshold", "contextual_threshold"),
    ("10-real-llm",          "check_decode_q8_0",          "decode_q8_0_block"),
    ("11-faq",               "check_choose_and_report",    "choose_and_report"),
    ("11-faq",               "check_equal_size",           "equal_size"),
    ("11-faq",               "check_abstain",              "abstain"),
]

# The answer is a number (the cell reads `scale = ...`), not a function (`def f(...): ...`).
NUMBER_ANSWERS = {"check_scale", "check_swiglu_d_ff"}

# Checkers that take more than the answer: the fixture (tests/conftest.py) that gives the rest.
EXTRA_ARGUMENT = {"check_nsp_rule": "nsp_texts"}

FUNCTION_EXERCISES = [row for row in EXERCISES if row[1] not in NUMBER_ANSWERS]


def _id(row):
    chapter, checker, _ = row
    return f"{chapter[:2]}-{checker}"


def checker_of(chapter, checker):
    """minillm.exercises.<chapter's module>.<checker>: "05-fine-tuning" -> fine_tuning."""
    module = importlib.import_module(f"minillm.exercises.{chapter[3:].replace('-', '_')}")
    return getattr(module, checker)


def extra_arguments(checker, request):
    """What the checker takes after the answer (nothing for most)."""
    return [request.getfixturevalue(EXTRA_ARGUMENT[checker])] if checker in EXTRA_ARGUMENT else []


def test_the_table_lists_every_checker_and_every_solution():
    exercises = Path(minillm.exercises.__file__).parent
    found = set()
    for path in exercises.glob("*.py"):
        module = importlib.import_module(f"minillm.exercises.{path.stem}")
        found |= {(path.stem, name) for name, fn in inspect.getmembers(module, inspect.isfunction)
                  if name.startswith("check_") and fn.__module__ == module.__name__}
    listed = {(chapter[3:].replace("-", "_"), checker) for chapter, checker, _ in EXERCISES}
    assert listed == found
    for chapter, _, answer in EXERCISES:
        assert hasattr(load_solutions(chapter), answer), f"{chapter}/solutions.py has no {answer}"


@pytest.mark.parametrize("row", EXERCISES, ids=_id)
def test_the_reference_solution_passes(row, request, capsys):
    chapter, checker, answer = row
    solution = getattr(load_solutions(chapter), answer)
    assert checker_of(chapter, checker)(solution, *extra_arguments(checker, request))
    out = capsys.readouterr().out
    assert out.count("✅") == 1 and "❌" not in out


# What an exercise cell holds before the learner writes anything: a function whose body is `...`,
# or `...` itself (a number's cell; a learner may also pass `...` where a function is asked for).
STUBS = ([pytest.param(row, unanswered, id=f"{_id(row)}-def") for row in FUNCTION_EXERCISES]
         + [pytest.param(row, ..., id=f"{_id(row)}-...") for row in EXERCISES])


@pytest.mark.parametrize("row, placeholder", STUBS)
def test_the_notebooks_stub_gets_the_todo_hint(row, placeholder, request, capsys):
    chapter, checker, _ = row
    rejects(checker_of(chapter, checker), placeholder, capsys, TODO,
            *extra_arguments(checker, request))


@pytest.mark.parametrize("row", FUNCTION_EXERCISES, ids=_id)
def test_an_answer_that_raises_gets_a_hint_naming_the_error(row, request, capsys):
    chapter, checker, _ = row

    def broken(*args):
        raise KeyError("oops")

    rejects(checker_of(chapter, checker), broken, capsys, "raised KeyError",
            *extra_arguments(checker, request))


@pytest.mark.parametrize("row", EXERCISES, ids=_id)
def test_an_answer_of_the_wrong_type_gets_a_hint_not_an_exception(row, request, capsys):
    chapter, checker, _ = row
    text = "oops" if checker in NUMBER_ANSWERS else lambda *args: "oops"
    rejects(checker_of(chapter, checker), text, capsys, "Hint", *extra_arguments(checker, request))
