"""The book builds with Jupyter Book 1, executing every page, with warnings treated as errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("jupyter-book") is None, reason="jupyter-book is not installed")
def test_book_builds_without_warnings(tmp_path: Path) -> None:
    """A reader's build: every chapter executes, no warning (a broken reference, a bad
    citation, a cell that raises) slips through, and the pages carry their figures and widgets."""
    result = subprocess.run(
        [shutil.which("jupyter-book"), "build", str(ROOT), "--builder", "html", "-W", "-n",
         "--keep-going", "--path-output", str(tmp_path)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    html = tmp_path / "_build" / "html"
    intro = (html / "intro.html").read_text(encoding="utf-8")
    assert "<img" in intro, "the introduction should show at least one figure"
    assert "application/vnd.jupyter.widget-view+json" in intro, "the introduction's widget is missing"
    for chapter in sorted((ROOT / "chapters").glob("0*/index.*")):
        page = html / "chapters" / chapter.parent.name / "index.html"
        assert page.exists(), f"{page} was not built"
    assert (html / "appendix" / "glossary.html").exists()
