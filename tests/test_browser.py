"""The built book as a reader sees it: every page opened in headless Chromium with no network.

The book is built once for the run (tests/book_build.py, shared with tests/test_book.py) and
served from a loopback port; the browser can reach nothing else (tests/chromium.py), so a page
that still needs a CDN shows it here as a failed load. Every page is visited once and what it
shows is recorded; the tests below each check one promise the pages make to a reader. A
screenshot of every page is saved to ``_build/screenshots/`` for review (the whole page, up to
12,000 pixels; for the source listings under ``_modules/``, their first screenful).

Time: about 1.5 minutes for some 100 pages on two shared cores, after the shared build.
"""

from __future__ import annotations

import functools
import html as html_lib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import chromium
import pytest
from book_build import ROOT, BookBuild, build_book

SCREENSHOTS = ROOT / "_build" / "screenshots"
"""Where the screenshot of every page goes (one PNG per page, named after its path)."""

WIDGET_STATE = re.compile(
    r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', re.S)
WIDGET_VIEW = re.compile(
    r'<script type="application/vnd.jupyter.widget-view\+json">(.*?)</script>', re.S)

NOT_CONTROLS = {"LayoutView", "StyleView", "BoxView", "HBoxView", "VBoxView", "GridBoxView",
                "OutputView", "HTMLView", "HTMLMathView", "LabelView", "ImageView"}
"""Widget views that are layout or display, not something a reader operates."""

INSPECT_PAGE = r"""
(async () => {
  const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
  const views = [...document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]')];
  const panelOf = script => {
    const before = script.previousElementSibling;
    return before && before.classList.contains('widget-subarea') ? before : null;
  };
  const started = performance.now();
  // Panels render after require.js loads the widget manager; give them up to 20 s.
  while (views.some(v => !(panelOf(v) && panelOf(v).childElementCount))
         && performance.now() - started < 20000) {
    await sleep(100);
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await Promise.race([MathJax.startup.promise, sleep(20000)]);
  }
  await Promise.all([...document.images].map(img => img.decode().catch(() => null)));
  // Let late layout and late errors land: panels' pages get longer (most pages have none).
  await sleep(views.length ? 200 : 50);

  const column = document.querySelector('article.bd-article') || document.querySelector('main')
    || document.body;
  const box = column.getBoundingClientRect();
  const panels = views.map(script => {
    const panel = panelOf(script);
    if (!panel) return {model: JSON.parse(script.textContent).model_id, rendered: false};
    const images = [...panel.querySelectorAll('img')].filter(i => i.complete && i.naturalWidth > 0);
    const svgs = [...panel.querySelectorAll('svg')].filter(s => s.getBoundingClientRect().width > 50);
    const note = panel.querySelector('.zablib-kernel-note');
    return {model: JSON.parse(script.textContent).model_id, rendered: panel.childElementCount > 0,
            height: panel.getBoundingClientRect().height, text: panel.innerText,
            figures: images.length + svgs.length,
            note: note && note.getBoundingClientRect().height > 0 ? note.innerText : null};
  });
  // Text outputs whose lines run past their box (hidden behind a scroll bar or cut off).
  const clipped = [...document.querySelectorAll('.cell_output pre')]
    .filter(p => p.scrollWidth > p.clientWidth + 1)
    .map(p => p.textContent.trim().split('\n').pop().slice(0, 80));

  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight';
  const raw = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest(skip)) continue;
    if (/\\\(|\\\[|\$\$/.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 80));
  }
  const unrenderedMath = [...document.querySelectorAll('.math')]
    .filter(m => !m.querySelector('mjx-container') && !m.closest('mjx-container'))
    .map(m => m.textContent.trim().slice(0, 80));

  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
    .map(i => i.getAttribute('src').slice(0, 100));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href)
    .filter(href => href.startsWith(location.origin));

  const wide = [...column.querySelectorAll('img, svg, canvas, .widget-subarea')]
    .filter(e => !e.closest('mjx-container'))
    .map(e => [e, e.getBoundingClientRect()])
    .filter(([e, r]) => r.width > 50 && (r.right > box.right + 2 || r.left < box.left - 2))
    .map(([e, r]) => `${e.tagName.toLowerCase()} ${(e.getAttribute('src') || e.className || '')
      .toString().slice(0, 60)}: ${Math.round(r.width)} px wide, column ${Math.round(box.width)} px`);

  return {panels, math: raw.concat(unrenderedMath), mathCount: document.querySelectorAll('.math').length,
          renderedMath: document.querySelectorAll('mjx-container').length,
          broken, links, wide, clipped, column: box.width};
})()
"""


@dataclass
class PageReport:
    """What one page showed in the browser."""

    path: str
    errors: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    expected_panels: dict[str, tuple[list[str], int]] = field(default_factory=dict)
    """model id -> (the descriptions of its controls, how many figures its saved state holds)."""
    screenshot: Path | None = None


def expected_panels(page_html: str) -> dict[str, tuple[list[str], int]]:
    """For each widget view on a page: its controls' descriptions and its number of figures,
    read from the widget state saved in the page."""
    states = [json.loads(html_lib.unescape(m)) for m in WIDGET_STATE.findall(page_html)]
    models = {k: v for s in states for k, v in s.get("state", {}).items()}
    panels = {}
    for view in WIDGET_VIEW.findall(page_html):
        root = json.loads(html_lib.unescape(view))["model_id"]
        controls, figures, todo, seen = [], 0, [root], set()
        while todo:
            model_id = todo.pop()
            if model_id in seen or model_id not in models:
                continue
            seen.add(model_id)
            state = models[model_id]["state"]
            if state.get("_view_name") not in NOT_CONTROLS and state.get("description"):
                controls.append(state["description"])
            for output in state.get("outputs", []):
                data = output.get("data", {})
                figures += "image/png" in data or "image/svg+xml" in data
            todo += re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(state))
        panels[root] = (controls, figures)
    return panels


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves the built site without logging every request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass


@pytest.fixture(scope="session")
def site() -> Iterator[tuple[BookBuild, str]]:
    """The built book served on a loopback port: (the build, the base URL)."""
    reason = chromium.missing_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    if shutil.which("jupyter-book") is None:
        pytest.skip("jupyter-book is not installed")
    built = build_book()
    # A warning fails tests/test_book.py; the pages written despite it (--keep-going) are
    # still worth opening, so only a build that wrote no pages stops this test.
    if not (built.html / "intro.html").is_file():
        pytest.fail("the book did not build (see tests/test_book.py):\n" + built.output)
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(built.html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield built, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def book_pages(html: Path) -> list[str]:
    """Every page of the built site (the chapters, exercises, appendix, index and source
    listings), as paths relative to the site's root; not the redirect at index.html."""
    pages = []
    for page in sorted(html.rglob("*.html")):
        relative = page.relative_to(html).as_posix()
        if relative.startswith(("_static/", "_sources/")) or relative == "index.html":
            continue
        pages.append(relative)
    return pages


def page_errors(tab: chromium.Tab) -> list[str]:
    """The errors a page logged, less the browser's own request for /favicon.ico (it asks every
    new site for one; the book declares none)."""
    return [error for error in tab.errors() if not error.endswith("/favicon.ico")]


@pytest.fixture(scope="session")
def browser(site: tuple[BookBuild, str]) -> Iterator[chromium.Browser]:
    """One headless Chromium for the session, stopped at its end."""
    started = chromium.Browser()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="session")
def reports(site: tuple[BookBuild, str], browser: chromium.Browser) -> dict[str, PageReport]:
    """Visit every page once, in one browser tab, and record what each shows."""
    built, base = site
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    found: dict[str, PageReport] = {}
    started = time.monotonic()
    tab = browser.tab()
    try:
        for path in book_pages(built.html):
            report = PageReport(path)
            report.expected_panels = expected_panels(
                (built.html / path).read_text(encoding="utf-8"))
            tab.navigate(f"{base}/{path}")
            report.facts = tab.evaluate(INSPECT_PAGE, timeout=60)
            report.errors = page_errors(tab)
            report.screenshot = SCREENSHOTS / (path.replace("/", "__").removesuffix(".html") + ".png")
            # Source listings (_modules/) and the API reference (appendix/api/) are long and hold
            # no figures or panels: their first screenful (a full capture of those ~170 pages
            # was most of this loop's time). Every page is still loaded and inspected.
            tab.screenshot(report.screenshot,
                           full_page=not path.startswith(("_modules/", "appendix/api/")))
            found[path] = report
    finally:
        tab.close()
    panels = sum(len(r.facts["panels"]) for r in found.values())
    figures = sum(p.get("figures", 0) for r in found.values() for p in r.facts["panels"])
    print(f"\nbrowser: {len(found)} pages, {panels} widget panels showing {figures} figures, "
          f"in {time.monotonic() - started:.1f} s; screenshots in {SCREENSHOTS}")
    return found


def failures(reports: dict[str, PageReport], what: str) -> str:
    """The pages whose ``what`` fact is non-empty, one line each."""
    return "\n".join(f"{path}: {report.facts[what]}" for path, report in reports.items()
                     if report.facts[what])


def test_pages_log_no_javascript_errors_and_load_nothing_from_the_network(
        reports: dict[str, PageReport]) -> None:
    """No exception, console error or failed load (a CDN the offline browser cannot reach
    counts) on any page."""
    errors = {path: report.errors for path, report in reports.items() if report.errors}
    assert not errors, "\n".join(f"{path}: {e}" for path, e in errors.items())


def test_every_panel_renders_its_controls_and_figures(reports: dict[str, PageReport]) -> None:
    """Each widget panel saved in a page appears with the controls and figures of its saved
    state, with no kernel and no network."""
    panels = sum(len(r.expected_panels) for r in reports.values())
    assert panels > 0, "no page has a widget panel: the pages lost their widget state"
    problems = []
    for path, report in reports.items():
        shown = {p["model"]: p for p in report.facts["panels"]}
        for model, (controls, figures) in report.expected_panels.items():
            panel = shown.get(model, {"rendered": False})
            if not panel["rendered"]:
                problems.append(f"{path}: panel {model} did not render")
                continue
            missing = [c for c in controls if c not in panel["text"]]
            if missing:
                problems.append(f"{path}: panel {model} lacks the controls {missing}")
            if panel["figures"] < figures:
                problems.append(f"{path}: panel {model} shows {panel['figures']} of its "
                                f"{figures} figures")
    assert not problems, "\n".join(problems)


def test_every_panel_says_its_controls_need_a_kernel_and_where_to_get_one(
        reports: dict[str, PageReport]) -> None:
    """On the static page the controls do nothing, and each panel says so in its first line,
    naming the ways to a kernel (Binder and Live Code behind the launch button); the line is
    shown by the book's stylesheet (in Jupyter it stays hidden)."""
    problems, seen = [], 0
    for path, report in reports.items():
        for panel in report.facts["panels"]:
            seen += 1
            note = panel.get("note") or ""
            if not ("running Python kernel" in note and "Binder" in note and "Live Code" in note):
                problems.append(f"{path}: panel {panel['model']} shows no kernel line ({note!r})")
            elif not panel["text"].lstrip().startswith(note.strip()[:40]):
                problems.append(f"{path}: panel {panel['model']}'s kernel line is not its first")
    assert seen and not problems, "\n".join(problems)


def test_long_output_lines_stay_inside_their_box(reports: dict[str, PageReport]) -> None:
    """A long line of text output (a summary, an error shown on purpose) wraps in its box: no
    output is wider than its box, where a scroll bar hid its last line."""
    assert not failures(reports, "clipped"), failures(reports, "clipped")


def test_all_maths_is_typeset(reports: dict[str, PageReport]) -> None:
    """No raw ``\\(...\\)`` or ``$$`` left in the text: MathJax ran on every page that has
    maths."""
    assert any(r.facts["renderedMath"] for r in reports.values()), "no page typeset any maths"
    assert not failures(reports, "math"), failures(reports, "math")


def test_images_and_internal_links_resolve(
        reports: dict[str, PageReport], site: tuple[BookBuild, str]) -> None:
    """Every image loads, and every link within the book names a page that exists and, when
    it has one, an anchor on that page."""
    built, base = site
    assert not failures(reports, "broken"), "broken images:\n" + failures(reports, "broken")
    anchors: dict[Path, set[str]] = {}
    broken = set()
    for path, report in reports.items():
        for link in report.facts["links"]:
            parts = urlsplit(link)
            target = built.html / unquote(parts.path).lstrip("/")
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.add(f"{path} -> {link}: no such file")
                continue
            if parts.fragment and target.suffix == ".html":
                if target not in anchors:
                    text = target.read_text(encoding="utf-8")
                    anchors[target] = set(re.findall(r'\b(?:id|name)="([^"]+)"', text))
                if unquote(parts.fragment) not in anchors[target]:
                    broken.add(f"{path} -> {link}: no anchor #{parts.fragment}")
    assert not broken, "\n".join(sorted(broken))


def test_no_figure_is_wider_than_the_text_column(reports: dict[str, PageReport]) -> None:
    """Figures and panels fit the column they sit in (1280-pixel-wide window)."""
    assert not failures(reports, "wide"), failures(reports, "wide")


def test_every_page_has_a_screenshot(reports: dict[str, PageReport]) -> None:
    """A PNG of every page is left in _build/screenshots for a person to look over."""
    missing = [p for p, r in reports.items() if not (r.screenshot and r.screenshot.stat().st_size)]
    assert not missing, missing
    assert len(reports) >= 30, f"only {len(reports)} pages were visited"


def test_panels_and_maths_render_from_a_copy_on_disk(
        reports: dict[str, PageReport], site: tuple[BookBuild, str],
        browser: chromium.Browser) -> None:
    """Opened as files (file://, no server at all), the pages with panels still show them with
    their figures and typeset their maths."""
    built, _ = site
    with_panels = [path for path, r in reports.items() if r.expected_panels]
    tab = browser.tab()
    problems = []
    try:
        for path in with_panels:
            tab.navigate((built.html / path).as_uri())
            facts = tab.evaluate(INSPECT_PAGE, timeout=60)
            if page_errors(tab):
                problems.append(f"{path}: {page_errors(tab)}")
            figures = sum(figures for _, figures in reports[path].expected_panels.values())
            if sum(p.get("figures", 0) for p in facts["panels"]) < figures:
                problems.append(f"{path}: {facts['panels']!r:.300}")
            if facts["math"]:
                problems.append(f"{path}: raw maths {facts['math']}")
    finally:
        tab.close()
    assert with_panels and not problems, "\n".join(problems)


def test_live_code_button_starts_thebe_without_errors(
        site: tuple[BookBuild, str], browser: chromium.Browser) -> None:
    """The Live Code button runs: it asks for Thebe from its CDN (blocked here, as a kernel on
    Binder would be offline) and logs nothing else; before, the page's own configuration
    script died on `Identifier 'THEBE_JS_URL' has already been declared`."""
    _, base = site
    tab = browser.tab()
    try:
        tab.navigate(f"{base}/chapters/04_zab/zab_broadcast.html")
        url = tab.evaluate("typeof THEBE_JS_URL === 'string' ? THEBE_JS_URL : null")
        assert url and url.startswith("https://"), "the page did not configure Thebe"
        tab.evaluate("document.querySelector('.btn-launch-thebe').click()")
        browser.pump(2)
        assert page_errors(tab) == [f"Failed to load resource: net::ERR_NAME_NOT_RESOLVED {url}"]
        loading = tab.evaluate("document.querySelector('.thebe-launch-button').innerText")
        assert loading == "Loading thebe from CDN..."
    finally:
        tab.close()
