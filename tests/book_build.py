"""One build of the book per test run, shared by every test that needs the built pages.

The book build executes every chapter and takes minutes, so tests/test_book.py (does it build
without warnings?) and tests/test_browser.py (do its pages work in a browser?) share one. Under
pytest-xdist the two modules may run on different workers, which are different processes: the
build goes to a directory named after the run (``PYTEST_XDIST_TESTRUNUID``, the same in every
worker of one run), and a file lock makes the first worker that asks build it while any other
waits and then reads the same result.

``ZABLIB_BOOK_OUTPUT=DIR`` skips the build and uses one made earlier with ``--path-output DIR``
(for working on the browser test; a full run leaves it unset).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
"""Names this test run's build; every xdist worker of one run sees the same value."""

_STALE_AFTER_S = 6 * 3600
"""Builds left by earlier runs are removed once they are this old."""


@dataclass(frozen=True)
class BookBuild:
    """The outcome of ``jupyter-book build . -W -n --keep-going``."""

    returncode: int
    output: str
    """The end of the build's stdout and stderr, for a failure message."""
    html: Path
    """The built site, ``<output>/_build/html``."""


def _remove_stale_builds(parent: Path) -> None:
    for old in parent.glob("zablib-book-*"):
        if old.name != f"zablib-book-{_RUN_ID}" and time.time() - old.stat().st_mtime > _STALE_AFTER_S:
            shutil.rmtree(old, ignore_errors=True)


def build_book() -> BookBuild:
    """Build the book once for this test run (warnings are errors) and return where it is.

    Returns
    -------
    BookBuild
        The build's return code, the tail of its output and the path of its HTML.
    """
    existing = os.environ.get("ZABLIB_BOOK_OUTPUT")
    if existing:  # a developer's shortcut: check a book built earlier (its --path-output)
        return BookBuild(0, "", Path(existing) / "_build" / "html")
    parent = Path(tempfile.gettempdir())
    out = parent / f"zablib-book-{_RUN_ID}"
    out.mkdir(exist_ok=True)
    result_file = out / "result.json"
    with open(out / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not result_file.exists():
            _remove_stale_builds(parent)
            done = subprocess.run(
                [shutil.which("jupyter-book") or "jupyter-book", "build", str(ROOT), "--builder",
                 "html", "-W", "-n", "--keep-going", "--path-output", str(out)],
                capture_output=True, text=True, timeout=900, cwd=ROOT,
            )
            result_file.write_text(json.dumps({
                "returncode": done.returncode,
                "output": done.stdout[-4000:] + done.stderr[-4000:],
            }))
        result = json.loads(result_file.read_text())
    return BookBuild(result["returncode"], result["output"], out / "_build" / "html")
