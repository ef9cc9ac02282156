"""minillm.documents: invented news reports and town facts, deterministic and self-consistent."""
import os
import subprocess
import sys

import pytest

from minillm.documents import news_reports, town_facts


def test_news_reports_are_deterministic_and_carry_their_facts():
    reports = news_reports(50, seed=3)
    assert reports == news_reports(50, seed=3) and reports != news_reports(50, seed=4)
    assert len({r.text for r in reports}) == 50
    for report in reports:
        for fact in report.facts:
            assert fact in report.text and fact in report.summary
    openers = [r.text.startswith("It was a busy week") for r in reports]
    assert 0 < sum(openers) < 50        # the first sentence is the news only some of the time


def test_town_facts_answer_each_question_from_its_own_passage_only():
    passages, questions = town_facts(60, seed=1)
    assert len(passages) == len(questions) == 60
    towns = [p.split(" is a small town")[0] for p in passages]
    assert len(set(towns)) == 60
    for i, question in enumerate(questions):
        assert question.passage == i and question.answer in passages[i]
        assert towns[i] in question.text
        assert not any(towns[i] in p for j, p in enumerate(passages) if j != i)
    assert town_facts(60, seed=1) == (passages, questions)


@pytest.mark.parametrize("make", [news_reports, lambda n: town_facts(n)])
def test_bad_sizes_are_refused(make):
    for n in (0, -1, 2.5):
        with pytest.raises(ValueError, match="positive integer"):
            make(n)


def test_the_documents_do_not_depend_on_the_hash_seed():
    """A learner's kernel hashes strings with a random seed: the same seed must give the same
    documents there as in CI."""
    code = ("from minillm.documents import news_reports, town_facts; "
            "print(news_reports(20, 1)[0].text, town_facts(20, 1)[1][0].text)")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout
               for seed in ("1", "2", "3")}
    assert len(outputs) == 1, outputs
