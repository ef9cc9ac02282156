"""The README describes the course that is actually here."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def chapter_map_links():
    table = README[README.index("## Chapter map"):]
    table = table[:table.index("\n\n", table.index("|"))]
    return re.findall(r"\]\((chapters/[^)]+\.ipynb)\)", table)


def test_chapter_map_lists_every_chapter_and_nothing_else():
    present = sorted(p.relative_to(REPO).as_posix() for p in REPO.glob("chapters/*/*.ipynb"))
    assert sorted(chapter_map_links()) == present


def stored_images(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                yield base64.b64decode(output["data"]["image/png"])


def test_readme_pictures_are_outputs_of_a_chapter():
    pictures = re.findall(r"!\[[^\]]*\]\((assets/[^)]+\.png)\)", README)
    assert pictures, "the README should open with a picture made by the course"
    outputs = {img for nb in REPO.glob("chapters/*/*.ipynb") for img in stored_images(nb)}
    for picture in pictures:
        assert (REPO / picture).read_bytes() in outputs, f"{picture} is not a chapter's output"
