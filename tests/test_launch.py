"""Every chapter can be launched on Colab and Binder, from one declared repository address."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from minillm import course

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.relative_to(REPO).as_posix() for p in REPO.glob("chapters/*/*.ipynb"))
README = (REPO / "README.md").read_text(encoding="utf-8")


def cells(notebook):
    return json.loads((REPO / notebook).read_text(encoding="utf-8"))["cells"]


def test_the_repository_address_comes_from_pyproject():
    tomllib = pytest.importorskip("tomllib")   # Python >= 3.11
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]
    assert course.repository_url() == declared["Repository"], "reinstall: pip install -e ."


@pytest.mark.parametrize("notebook", CHAPTERS)
def test_chapter_opens_with_its_launch_badges(notebook):
    first_markdown = next(c for c in cells(notebook) if c["cell_type"] == "markdown")
    assert "".join(first_markdown["source"]).startswith(course.badges(notebook))


@pytest.mark.parametrize("notebook", CHAPTERS)
def test_chapter_first_code_cell_is_the_generated_setup_cell(notebook):
    first_code = next(c for c in cells(notebook) if c["cell_type"] == "code")
    assert "".join(first_code["source"]) == course.setup_cell(), "run: python -m minillm.course"
    assert first_code["outputs"] == [], "the setup cell must print nothing where minillm exists"


@pytest.mark.parametrize("notebook", CHAPTERS)
def test_readme_links_every_chapter_to_colab(notebook):
    assert course.colab_url(notebook) in README


def test_readme_has_a_binder_badge():
    assert course.binder_url() in README


def run_setup_cell(monkeypatch, tmp_path, installed):
    """Execute the setup cell in tmp_path with `installed` deciding what find_spec sees; return
    the commands it runs (none is really run) and the sys.path it leaves."""
    real_find_spec = importlib.util.find_spec
    calls = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: real_find_spec(name, *a) if name in installed else None)
    monkeypatch.setattr(subprocess, "check_call", lambda cmd: calls.append(cmd))
    exec(course.setup_cell(), {})
    return calls, sys.path


def test_setup_cell_does_nothing_where_minillm_is_installed(monkeypatch, tmp_path):
    calls, _ = run_setup_cell(monkeypatch, tmp_path, installed={"minillm", "torch"})
    assert calls == []


def test_setup_cell_clones_and_installs_minillm_and_keeps_colabs_torch(monkeypatch, tmp_path):
    from importlib.metadata import version

    (clone, install), path = run_setup_cell(monkeypatch, tmp_path, installed={"torch"})
    folder = tmp_path.resolve() / course.CLONE_FOLDER
    assert clone == ["git", "clone", "--depth", "1", course.repository_url(), str(folder)]
    assert install == [sys.executable, "-m", "pip", "install", "--quiet", "-e",
                       f"{folder}[course]", f"torch=={version('torch')}"]
    assert path[0] == str(folder)


def test_setup_cell_reuses_an_earlier_clone(monkeypatch, tmp_path):
    (tmp_path / course.CLONE_FOLDER).mkdir()
    calls, _ = run_setup_cell(monkeypatch, tmp_path, installed={"torch"})
    assert [cmd[3] for cmd in calls] == ["install"]


def test_setup_cell_without_torch_lets_pip_choose_it(monkeypatch, tmp_path):
    (_, install), _ = run_setup_cell(monkeypatch, tmp_path, installed=set())
    assert not any(arg.startswith("torch") for arg in install)


def test_sync_is_idempotent(tmp_path):
    chapter = tmp_path / "chapters" / "09-x" / "x.ipynb"
    chapter.parent.mkdir(parents=True)
    chapter.write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Chapter 9"]},
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
         "source": ["import minillm"]}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert course.sync_chapter(chapter, tmp_path)
    assert not course.sync_chapter(chapter, tmp_path)
    synced = json.loads(chapter.read_text())["cells"]
    assert [c["cell_type"] for c in synced] == ["markdown", "code", "code"]
    assert "".join(synced[1]["source"]) == course.setup_cell()
