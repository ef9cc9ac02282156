"""Every chapter, run the way a learner runs it: JupyterLab 4 in a headless Chromium.

Restart & Run All, then: no traceback, no broken widget, every bertviz view drew its tokens, every
slider moves and redraws a plot that is not blank. Screenshots and a JSON summary (with run times)
per chapter go to screenshots/<chapter>/ (git-ignored). Outputs are not compared with the saved
notebook: nbval does that.

Needs /usr/bin/chromium, the `playwright` package (never `playwright install`: the system
Chromium is driven) and npm, to fetch bertviz's cdnjs files once (see browser/cdn.py). Without
them these tests skip; with MINILLM_REQUIRE_BROWSER=1 they fail instead.
    python -m pytest tests/test_browser.py -m browser -o addopts="" -v -rA
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from browser import cdn, jupyterlab, learner

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.relative_to(REPO).as_posix() for p in REPO.glob("chapters/*/*.ipynb"))
SCREENSHOTS = REPO / "screenshots"
CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.browser


def missing(reason: str):
    """Skip for want of a prerequisite, or fail when the browser tests are required."""
    if os.environ.get("MINILLM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (and MINILLM_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).is_file():
        missing(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        home = tmp_path_factory.mktemp("chromium")
        chromium = learner.launch_chromium(playwright, CHROMIUM, home)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def cdn_files():
    try:
        return cdn.local_copies(cdn.default_cache())
    except cdn.CdnUnavailable as e:
        missing(str(e))


@pytest.fixture(scope="session")
def lab(browser, tmp_path_factory):
    """JupyterLab serving the repository; its HOME, settings and workspaces in a temporary dir."""
    with jupyterlab.serve(REPO, tmp_path_factory.mktemp("jupyter-home")) as url:
        yield url


@pytest.fixture(scope="session")
def run_times():
    """chapter -> seconds per phase, written to screenshots/run_times.json at the end."""
    times = {}
    yield times
    if times:
        SCREENSHOTS.mkdir(exist_ok=True)
        (SCREENSHOTS / "run_times.json").write_text(json.dumps(times, indent=2))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_cleanly_in_jupyterlab(chapter, browser, cdn_files, lab, run_times):
    source = REPO / chapter
    saved = source.read_bytes()
    name = Path(chapter).relative_to("chapters").with_suffix("").as_posix()
    shots = SCREENSHOTS / name.replace("/", "__")
    shutil.rmtree(shots, ignore_errors=True)

    summary = learner.run_notebook(browser, lab, chapter, source, cdn_files, shots)

    (shots / "summary.json").write_text(json.dumps(summary, indent=2))
    run_times[chapter] = summary["seconds"]
    print(f"{chapter}: Run All took {summary['seconds']['run_all']} s "
          f"(whole browser session {summary['seconds']['total']} s); screenshots in {shots}")
    assert not summary["problems"], (f"{chapter} as a learner sees it (screenshots in {shots}):"
                                     + "".join(f"\n- {p}" for p in summary["problems"]))
    assert source.read_bytes() == saved, "the chapter's file changed while it ran in JupyterLab"
