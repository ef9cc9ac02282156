"""Fixtures shared by the exercise tests (tests/test_exercises*.py); other tests import _helpers."""
import pytest
import torch
from _helpers import load_solutions, prose_sentences

from minillm.data import pydoc_corpus, split_documents
from minillm.objectives import nsp_pairs


@pytest.fixture(scope="module")
def solutions(request):
    """chapters/<CHAPTER>/solutions.py, where CHAPTER is set by the test module,
    e.g. CHAPTER = "02-attention"."""
    return load_solutions(request.module.CHAPTER)


@pytest.fixture(scope="session")
def nsp_texts():
    """Chapter 4's held-out sentence pairs as the chapter makes them: sentences of the validation
    topics, the same 2000 pairs. check_nsp_rule scores a rule on them."""
    _, valid_docs = split_documents(pydoc_corpus(), valid_fraction=0.1, seed=0)
    return nsp_pairs([prose_sentences(doc.text) for doc in valid_docs], 2000,
                     torch.Generator().manual_seed(0))
