"""The pytest plugin of a grading run: per-cell results, hard deadlines, and tamper checks.

Loaded with ``-p zablib.grade.plugin`` inside the grading subprocess only (and its xdist
workers), by :class:`~zablib.grade.runner.Runner`; every hook does nothing unless
``--zablib-grade-results-fd FD`` is given. It installs :mod:`zablib.grade.nbval_patch`, writes
one JSON line per cell result to the pipe ``FD`` (the runner reads it; no kernel inherits it),
and fails a test cell that "passed" without really running to its end: one whose error was
hidden with a custom exception handler, or one rewritten by an IPython input transformer (each
test cell that does not check outputs gets a random token assigned on its last line at run time,
and the plugin reads it back). Students' code runs in sandboxed workers, never in these kernels
(:mod:`zablib.grade.bridge`); the checks stay as a second line of defence.

Hooks: ``pytest_addoption``, ``pytest_configure`` / ``pytest_unconfigure`` (install the nbval
repairs, open and close the results file), ``pytest_runtest_call`` (deadline and tamper checks
around each cell) and ``pytest_runtest_logreport`` (one JSON line per result).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from typing import IO, Any

import pytest

import zablib.grade.nbval_patch as nbval_patch
from zablib.grade.notebook import TESTS_TAG, cell_tags

# the pytest hooks below are found by pytest under their names, not imported by anyone
__all__ = ["OUTPUT_GRACE", "TamperedCellError"]

#: seconds after the cell timeout at which a cell still streaming output is cut off
OUTPUT_GRACE = 5.0

_TOKEN_VAR = "_zablib_grade_token"
_results: IO[str] | None = None  # the controller process's results pipe, while configured


class TamperedCellError(AssertionError):
    """A test cell 'passed' but did not really run to its end without error."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--zablib-grade-results-fd FD`` (JSON lines, one per cell result)."""
    parser.getgroup("zablib-grade").addoption(
        "--zablib-grade-results-fd", default=None, help="zablib.grade: write cell results to this pipe"
    )


def pytest_configure(config: pytest.Config) -> None:
    """Patch nbval's kernel handling and open the results pipe (controller process only)."""
    global _results
    fd = config.getoption("zablib_grade_results_fd", None)
    if not fd:
        return
    nbval_patch.install()
    if not hasattr(config, "workerinput"):
        os.set_inheritable(int(fd), False)  # kernels and xdist workers must not hold it
        _results = os.fdopen(int(fd), "w", encoding="utf-8")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the results pipe."""
    global _results
    if _results is not None:
        _results.close()
        _results = None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Append one JSON line per cell result (setup errors and call outcomes)."""
    out = _results
    if out is None or report.when == "teardown":
        return
    if report.when == "setup" and report.outcome == "passed":
        return
    try:
        text = report.longreprtext
    except Exception:  # a result must be written whatever its repr does
        text = ""
    out.write(
        json.dumps(
            {
                "nodeid": report.nodeid,
                "when": report.when,
                "outcome": report.outcome,
                "xfail": hasattr(report, "wasxfail"),
                "duration": round(report.duration, 3),
                "timeout": "Timeout of" in text[:1000],
                "message": text[-4000:],
            }
        )
        + "\n"
    )
    out.flush()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Run an nbval cell with a hard deadline, then verify that a passed test cell really ran."""
    cell = getattr(item, "cell", None)
    if cell is None or not item.config.getoption("zablib_grade_results_fd", None):
        return (yield)
    kernel = getattr(item.parent, "kernel", None)
    timeout = float(item.config.option.nbval_cell_timeout)
    is_test = TESTS_TAG in cell_tags(cell)
    token = secrets.token_hex(16) if is_test and not item.options["check"] else None
    original = cell.source
    if token is not None:
        cell.source = f"{original}\n{_TOKEN_VAR} = {token!r}\n"
    nbval_patch.start_cell(time.monotonic() + timeout + OUTPUT_GRACE)
    try:
        result = yield
    finally:
        nbval_patch.end_cell()
        cell.source = original
    if not is_test or kernel is None:
        return result
    reply = nbval_patch.last_reply()
    if reply.get("status") == "error" and not item.options["check_exception"]:
        raise TamperedCellError(
            f"the cell raised {reply.get('ename')} but the error was hidden "
            "(a custom exception handler?)"
        )
    if token is not None and nbval_patch.user_expression(kernel, _TOKEN_VAR, timeout) != repr(token):
        raise TamperedCellError(
            "the test cell did not run to its last line (was it rewritten by the solution?)"
        )
    return result
