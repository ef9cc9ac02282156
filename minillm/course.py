"""How learners launch the course: Colab and Binder links, and each chapter's setup cell.

The repository's address is declared once, in pyproject.toml's `[project.urls] Repository`.
Everything a notebook needs to find the course on Colab (its badge links and the first code cell,
which installs minillm where it is missing) is generated from that one address, and
`tests/test_launch.py` checks that every chapter carries exactly what this module generates.
Refresh the chapters after changing the address with `python -m minillm.course`.
"""
from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

SETUP_MARKER = "# Setup: on Colab (or any Python without minillm) install the course's library"
CLONE_FOLDER = "minillm-course"   # where the setup cell clones the repository


def repository_url():
    """The repository's https URL, from the installed package's metadata (pyproject.toml)."""
    for entry in importlib.metadata.metadata("minillm").get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip() == "Repository":
            return url.strip()
    raise ValueError("pyproject.toml declares no [project.urls] Repository; reinstall minillm "
                     "(pip install -e .) after adding it")


def github_path():
    """'owner/name' of the GitHub repository."""
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?/?", repository_url())
    if match is None:
        raise ValueError(f"the Repository URL {repository_url()!r} is not a GitHub repository")
    return match.group(1)


def colab_url(notebook):
    """Open chapters/NN-topic/name.ipynb (a repository-relative path) in Google Colab."""
    return f"https://colab.research.google.com/github/{github_path()}/blob/main/{notebook}"


def binder_url(notebook=None):
    """Open the repository on Binder, in JupyterLab, optionally at one notebook."""
    url = f"https://mybinder.org/v2/gh/{github_path()}/main"
    return url + (f"?urlpath=lab/tree/{notebook}" if notebook else "")


def badges(notebook):
    """Markdown for the two launch badges of one chapter."""
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(notebook)}) "
            f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(notebook)})")


def setup_cell():
    """The source of every chapter's first code cell.

    Where minillm is importable (JupyterLab from a clone, Binder) it does nothing. Elsewhere
    (Colab) it clones the repository (the library, and the assets it loads: the shipped
    checkpoint, figures) and pip-installs it editable, pinning the torch that is already
    installed so that pip never replaces Colab's own build.
    """
    return f'''{SETUP_MARKER}
# (JupyterLab from a clone and Binder already have it: there this cell does nothing).
import importlib.util
import subprocess
import sys
from pathlib import Path

if importlib.util.find_spec("minillm") is None:
    from importlib.metadata import version

    course = Path("{CLONE_FOLDER}").resolve()
    if not course.is_dir():
        url = "{repository_url()}"
        subprocess.check_call(["git", "clone", "--depth", "1", url, str(course)])
    keep_torch = [f"torch=={{version('torch')}}"] if importlib.util.find_spec("torch") else []
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "-e",
                           f"{{course}}[course]", *keep_torch])
    sys.path.insert(0, str(course))   # an editable install is seen by new processes only
    importlib.invalidate_caches()'''


def sync_chapter(path, repo_root):
    """Put the badges in a chapter's first Markdown cell and the setup cell first among its
    code cells (replacing older versions of either). Returns True if the file changed."""
    path = Path(path)
    notebook = path.relative_to(repo_root).as_posix()
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    before = json.dumps(cells)
    first_md = next(c for c in cells if c["cell_type"] == "markdown")
    text = re.sub(r"^\[!\[Open In Colab\].*\n\n?", "", "".join(first_md["source"]))
    first_md["source"] = _lines(badges(notebook) + "\n\n" + text)
    code = [c for c in cells if c["cell_type"] == "code"]
    if code and "".join(code[0]["source"]).startswith(SETUP_MARKER):
        code[0]["source"] = _lines(setup_cell())
    else:
        cells.insert(cells.index(code[0]) if code else len(cells), _code_cell(setup_cell()))
    if json.dumps(cells) == before:
        return False
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return True


def _lines(text):
    return text.splitlines(keepends=True)


def _code_cell(source):
    return {"cell_type": "code", "execution_count": None, "id": "minillm-setup", "metadata": {},
            "outputs": [], "source": _lines(source)}


if __name__ == "__main__":
    root = Path.cwd()
    for chapter in sorted(root.glob("chapters/*/*.ipynb")):
        if sync_chapter(chapter, root):
            print(f"updated {chapter.relative_to(root)}: re-execute it and save its outputs")
