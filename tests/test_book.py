"""The book builds with Jupyter Book 1, executing every page, with warnings treated as errors."""

from __future__ import annotations

import shutil

import pytest
from book_build import ROOT, BookBuild, build_book


@pytest.fixture(scope="session")
def built_book() -> BookBuild:
    """The book built once for the whole test run (shared with tests/test_browser.py)."""
    if shutil.which("jupyter-book") is None:
        pytest.skip("jupyter-book is not installed")
    return build_book()


def test_book_builds_without_warnings(built_book: BookBuild) -> None:
    """A reader's build: every chapter executes, no warning (a broken reference, a bad
    citation, a cell that raises) slips through, and the pages carry their figures and widgets."""
    assert built_book.returncode == 0, built_book.output
    html = built_book.html
    intro = (html / "intro.html").read_text(encoding="utf-8")
    assert "<img" in intro, "the introduction should show at least one figure"
    assert "application/vnd.jupyter.widget-view+json" in intro, "the introduction's widget is missing"
    for chapter in sorted((ROOT / "chapters").glob("0*/index.*")):
        page = html / "chapters" / chapter.parent.name / "index.html"
        assert page.exists(), f"{page} was not built"
    assert (html / "appendix" / "glossary.html").exists()


def test_pages_load_their_scripts_from_the_book_itself(built_book: BookBuild) -> None:
    """Offline reading: require.js, the widget renderer and MathJax come from _static/vendor,
    and no inline script is written twice (sphinx-thebe's `const THEBE_JS_URL` was, a
    SyntaxError on every page). (Checked on the pages written even if a warning failed the
    build: the test above reports warnings.)"""
    html = built_book.html
    assert (html / "intro.html").is_file(), built_book.output
    intro = (html / "intro.html").read_text(encoding="utf-8")
    for script in ("_static/vendor/requirejs-2.3.4/require.js",
                   "_static/vendor/html-manager-1.0.15/embed-amd.js",
                   "_static/vendor/mathjax-3.2.2/tex-mml-chtml.js"):
        assert f'src="{script}' in intro, f"intro.html does not load {script}"
        assert (html / script).is_file(), f"{script} was not copied into the build"
    for page in html.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert text.count("const THEBE_JS_URL") <= 1, f"{page} declares THEBE_JS_URL twice"
        assert "cdn.jsdelivr.net/npm/mathjax" not in text, f"{page} loads MathJax from a CDN"
        assert "cdnjs.cloudflare.com" not in text, f"{page} loads require.js from a CDN"
