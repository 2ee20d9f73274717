"""The book builds with Jupyter Book 1, executing every page, with warnings treated as errors."""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
from pathlib import Path

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


WIDGET_STATE = re.compile(
    r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', re.S)
WIDGET_VIEW = re.compile(
    r'<script type="application/vnd.jupyter.widget-view\+json">(.*?)</script>', re.S)


def saved_panels(page_html: str) -> list[list[dict]]:
    """The widget states of each panel a page shows (every model reachable from the panel)."""
    states = [json.loads(html_lib.unescape(m)) for m in WIDGET_STATE.findall(page_html)]
    models = {k: v["state"] for s in states for k, v in s.get("state", {}).items()}
    panels = []
    for view in WIDGET_VIEW.findall(page_html):
        todo, seen, found = [json.loads(html_lib.unescape(view))["model_id"]], set(), []
        while todo:
            model_id = todo.pop()
            if model_id in seen or model_id not in models:
                continue
            seen.add(model_id)
            found.append(models[model_id])
            todo += re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(models[model_id]))
        panels.append(found)
    return panels


def changed_controls(panel: list[dict]) -> list[str]:
    """The controls of a saved panel that are not at their initial values (a ScenarioPanel's
    per :data:`zablib.widgets.SCENARIO_CONTROLS`; a FailurePanel's: no fault, first choice;
    other panels' initial values are not known here)."""
    from zablib.widgets import SCENARIO_CONTROLS

    by_description = {s.get("description"): s for s in panel if s.get("description")}
    changed = []
    scenario = by_description.get("scenario")
    if scenario is not None:  # a ScenarioPanel: its run's controls at their initial values
        label = scenario["_options_labels"][scenario["index"]]
        for _, kind, description, choices, initial in SCENARIO_CONTROLS[label][1]:
            state = by_description[description]
            if kind == "menu" and state["index"] is None:
                changed.append(f"{label}: the menu {description!r} shows no choice")
                continue
            value = (choices[state["index"]][1] if kind == "menu" else state["value"])
            if value != initial:
                changed.append(f"{label}: {description} = {value!r}, not {initial!r}")
        return changed
    if "partition" not in by_description or "loss" not in by_description:
        return changed  # not a FailurePanel
    for description, state in by_description.items():
        if description.startswith("crash node") and state["value"]:
            changed.append(f"{description} is ticked")
        elif description == "loss" and state["value"]:
            changed.append(f"loss = {state['value']}")
        elif state.get("_model_name") == "DropdownModel" and state.get("index"):
            changed.append(f"{description} = {state['_options_labels'][state['index']]!r}")
    return changed


def test_saved_panels_show_their_first_run_and_the_kernel_line(built_book: BookBuild) -> None:
    """What a static page shows of a panel is the state its notebook saved: the first run,
    the one the text describes (the book's panels start with no fault and their first choice),
    never the last run some later cell set; and each has its line about needing a kernel."""
    from zablib.widgets import KERNEL_NOTE

    html = built_book.html
    assert (html / "intro.html").is_file(), built_book.output
    problems, count = [], 0
    for page in sorted(html.rglob("*.html")):
        for panel in saved_panels(page.read_text(encoding="utf-8")):
            count += 1
            where = page.relative_to(html).as_posix()
            problems += [f"{where}: {c}" for c in changed_controls(panel)]
            if not any(s.get("value") == KERNEL_NOTE for s in panel):
                problems.append(f"{where}: a panel without the kernel line")
    assert count >= 9 and not problems, "\n".join(problems) or f"only {count} panels"


def glossary_terms(text: str) -> list[str]:
    """The first name of each entry of the glossary directive in ``text``, in page order."""
    block = text.split("```{glossary}\n", 1)[1].split("\n```", 1)[0]
    entries = re.split(r"\n\s*\n(?=\S)", block.strip("\n"))
    return [entry.split("\n", 1)[0] for entry in entries]


def test_the_glossary_is_in_alphabetical_order() -> None:
    """A reader scans the glossary by its English names: entries sorted, case aside."""
    terms = glossary_terms((ROOT / "appendix" / "glossary.md").read_text(encoding="utf-8"))
    assert len(terms) > 50, terms
    misplaced = [f"{a!r} before {b!r}" for a, b in zip(terms, terms[1:], strict=False)
                 if a.casefold() > b.casefold()]
    assert not misplaced, "glossary out of order: " + "; ".join(misplaced)


def test_the_api_reference_has_a_page_per_module_each_listed_and_built() -> None:
    """appendix/api.md lists one page per module under appendix/api/ (a big package's page,
    e.g. zablib.coord, lists a page per module of its own under appendix/api/<package>/); each
    is in the table of contents (only listed files are built) and documents its modules once."""
    api = ROOT / "appendix" / "api"
    pages = sorted(p.relative_to(api).with_suffix("").as_posix() for p in api.rglob("*.md"))
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert len(pages) > 50, pages
    assert not [p for p in pages if f"- file: appendix/api/{p}\n" not in toc], "not in _toc.yml"
    unlisted = []
    for page in pages:
        parent, _, name = page.rpartition("/")
        listing = (api / f"{parent}.md" if parent else ROOT / "appendix" / "api.md")
        link = f"<{parent}/{name}>`" if parent else f"<api/{name}>`"
        if link not in listing.read_text(encoding="utf-8"):
            unlisted.append(page)
    assert not unlisted, f"pages their parent page does not list: {unlisted}"
    documented = [m for p in api.rglob("*.md")
                  for m in re.findall(r"automodule:: (\S+)", p.read_text(encoding="utf-8"))]
    assert len(documented) == len(set(documented)), "a module is documented twice"
    index = (ROOT / "appendix" / "api.md").read_text(encoding="utf-8")
    assert "automodule:: zablib.core" not in index, "the modules' members belong on their pages"


def _markdown_texts(page: Path) -> list[str]:
    """A page's Markdown in reading order: a notebook's Markdown cells (code cells as empty
    texts, so that cells keep their numbers), a Markdown page as one text."""
    if page.suffix == ".md":
        return [page.read_text(encoding="utf-8")]
    cells = json.loads(page.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) if c["cell_type"] == "markdown" else "" for c in cells]


def test_every_predict_then_run_answer_is_in_a_collapsed_dropdown() -> None:
    """A reader asked to predict must not read the answer first: after every "Predict, then
    run" question, on every chapter page and the introduction, the explanation (before the next
    section) sits in a ``:::{dropdown}``, closed until opened."""
    pages = [ROOT / "intro.ipynb", *sorted((ROOT / "chapters").glob("*/*.ipynb")),
             *sorted((ROOT / "chapters").glob("*/index.md"))]
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    unlisted = [p for p in pages[1:]  # the introduction is the toc's root
                if f"file: {p.relative_to(ROOT).with_suffix('').as_posix()}\n" not in toc]
    assert not unlisted, f"chapter pages the book does not build: {unlisted}"
    question = re.compile(r"(?m)\*\*Predict, then run\.\*\*|^#+ Predict, then run"
                          r"|^(?P<block>:::\{exercise\}) Predict, then run")
    asked, missing = 0, []
    for page in pages:
        texts = _markdown_texts(page)
        for index, text in enumerate(texts):
            for match in question.finditer(text):
                asked += 1
                after = "\n".join([text[match.end():], *texts[index + 1:]])
                if match["block"]:  # the question is the exercise block: what follows it
                    after = after.split("\n:::\n", 1)[-1]
                section = re.split(r"(?m)^## ", after, maxsplit=1)[0]
                # a question whose answer is on another page (a chapter's index) leaves none here
                if section.strip() and ":::{dropdown}" not in section:
                    missing.append(f"{page.relative_to(ROOT)}, cell {index}")
    assert asked >= 10 and not missing, f"answers not in a dropdown: {missing}"


def test_no_chapter_shows_the_build_machines_paths(built_book: BookBuild) -> None:
    """What the chapters print (errors shown on purpose included, one line each) names no file
    of the machine that built the book; nor does the API reference (a default argument such as
    ``sys.executable`` would print the build's interpreter)."""
    html = built_book.html
    assert (html / "intro.html").is_file(), built_book.output
    pages = [html / "intro.html", *sorted((html / "chapters").rglob("*.html")),
             *sorted((html / "appendix").rglob("*.html"))]
    leaking = [p.relative_to(html).as_posix() for p in pages
               if str(ROOT) in p.read_text(encoding="utf-8")]
    assert not leaking, f"pages printing {ROOT}: {leaking}"
