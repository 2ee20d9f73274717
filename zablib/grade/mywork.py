"""A student's "check my work": the exercise's graded checks, run in the student's own kernel.

The last cell of every exercise (tagged ``check-my-work``) is::

    from zablib.grade import check_my_work
    check_my_work("01_replication")

:func:`check_my_work` reads the *released* exercise (``exercises/NN_name.ipynb`` of the book's
repository; git's copy of it if its test cells were edited in place), and runs it the way the
grader's trusted kernel does: the setup and test cells in notebook order, in a namespace of their
own, where each ``solution`` cell is replaced by the names its stub defines, taken from the
student's notebook (the functions the student wrote). So the checks do not depend on which cells
the student ran, nor on edits to anything but the solution cells. It prints one row per check:
where it is, what it is worth, whether it passed and, if not, what failed in one line (the
assertion's message, or the assertion that was false, or the exception and where it came from;
never a stack trace).

Nothing here counts for a grade. The grader skips cells tagged ``check-my-work``
(:func:`~zablib.grade.plan.trusted_notebook`) and grades with its own pristine copy in a kernel
no student code reaches; this is a mirror for the student, and it runs the student's code with
the student's rights, as the notebook itself does.
"""

from __future__ import annotations

import builtins
import contextlib
import inspect
import io
import json
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import nbformat

from zablib.grade.notebook import CHECK_TAG, SOLUTION_TAG, cell_source, cell_tags, test_cells, test_sources
from zablib.grade.release import HIDDEN_TAG, defined_names, stub_source

__all__ = ["CHECK_TAG", "Check", "MyWork", "check_my_work", "released_exercise"]

#: the book's exercises, next to the zablib package in the repository (and in Binder's copy)
_BOOK_EXERCISES = Path(__file__).resolve().parents[2] / "exercises"
_NAME_RE = re.compile(r"^[0-9]{2}_[A-Za-z0-9_]+$")
_WIDTH = 160  # the longest "what failed" line; longer ones end in "..."
_INTERRUPTED = "interrupted (a solution that never returns?)"


@dataclass(frozen=True)
class Check:
    """One check of an exercise, as run on the student's functions.

    Attributes
    ----------
    cell : int
        The test cell's place in the notebook, counting every cell from 1.
    name : str
        The check's name in the gradebook (a ``# test: name`` comment, else the cell id).
    points : int or float
        What the student scored: ``max_points`` if it passed, else 0.
    max_points : int or float
        What the check is worth.
    passed : bool
    failure : str
        What failed, in one line ("" if it passed).
    """

    cell: int
    name: str
    points: int | float
    max_points: int | float
    passed: bool
    failure: str = ""


@dataclass
class MyWork:
    """What :func:`check_my_work` found: the checks, the points and the table it printed.

    Attributes
    ----------
    exercise : str
        ``NN_name``.
    source : str
        Where the checks came from (the released notebook, and whether from git's copy).
    checks : list of Check
    notes : list of str
        Setup cells of the exercise that failed (a check that needs them fails too).
    """

    exercise: str
    source: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def points(self) -> int | float:
        """Points scored."""
        return sum(c.points for c in self.checks)

    @property
    def total(self) -> int | float:
        """Points the exercise is worth."""
        return sum(c.max_points for c in self.checks)

    @property
    def failed(self) -> list[str]:
        """Names of the checks that did not pass, in notebook order."""
        return [c.name for c in self.checks if not c.passed]

    def table(self) -> str:
        """The table :func:`check_my_work` prints.

        Returns
        -------
        str
        """
        rows = [("cell", "check", "points", "result", "what failed")]
        rows += [
            (str(c.cell), c.name, f"{_num(c.points)}/{_num(c.max_points)}",
             "passed" if c.passed else "FAILED", c.failure)
            for c in self.checks
        ]
        widths = [max(len(r[k]) for r in rows) for k in range(4)]
        lines = [f"Checks of {self.exercise} ({self.source}), run on your functions:", ""]
        for r in rows:
            lines.append("  ".join(r[k].rjust(widths[k]) if k in (0, 2) else r[k].ljust(widths[k])
                                   for k in range(4)) + ("  " + r[4] if r[4] else ""))
        lines += ["", f"{_num(self.points)} of {_num(self.total)} points"
                  + ("" if not self.failed else f"; failed: {', '.join(self.failed)}")]
        lines += self.notes
        return "\n".join(line.rstrip() for line in lines)

    def __repr__(self) -> str:
        return f"<check my work: {self.exercise}, {_num(self.points)} of {_num(self.total)} points>"


def _num(x: int | float) -> str:
    return f"{x:g}"


def _git_copy(path: Path) -> nbformat.NotebookNode | None:
    """The notebook as git's HEAD holds it, or None (no git, no repository, not committed)."""
    try:
        top = subprocess.run(
            ["git", "-C", str(path.parent), "rev-parse", "--show-toplevel"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        rel = path.resolve().relative_to(Path(top).resolve()).as_posix()
        text = subprocess.run(
            ["git", "-C", top, "show", f"HEAD:{rel}"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nbformat.reads(text, as_version=4)
    except (OSError, ValueError, subprocess.SubprocessError, json.JSONDecodeError):
        return None


def released_exercise(
    name: str, exercises: str | Path | None = None
) -> tuple[nbformat.NotebookNode, str]:
    """Find the released notebook of an exercise, whose test cells are the graded checks.

    Parameters
    ----------
    name : str
        ``NN_name``: the notebook's file name without ``.ipynb``.
    exercises : path, optional
        The folder of released exercises; default the book's ``exercises/`` next to zablib, else
        the current folder, else its parent.

    Returns
    -------
    (nbformat.NotebookNode, str)
        The notebook and where it came from, in words. When the file's test cells differ from
        those git's HEAD holds (a student who edited a test cell in place and saved), git's are
        taken: they are the released checks.

    Raises
    ------
    ValueError
        If `name` is not ``NN_name`` or no such notebook is found.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"check_my_work needs the exercise's name, like '01_replication', not {name!r}")
    # The book's exercises first; where zablib is installed apart from them, the notebook's own
    # folder (exercises/) or its parent (from exercises/solutions/).
    folders = [Path(exercises)] if exercises is not None else [_BOOK_EXERCISES, Path.cwd(), Path.cwd().parent]
    path = next((f / f"{name}.ipynb" for f in folders if (f / f"{name}.ipynb").is_file()), None)
    if path is None:
        raise ValueError(
            f"no exercise {name!r}: no {name}.ipynb in {', '.join(str(f) for f in folders)} (the "
            "name is the notebook's file name without .ipynb)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nb = nbformat.read(path, as_version=4)
    where = f"the tests of {path.parent.name}/{path.name}"
    committed = _git_copy(path)
    if committed is not None and test_sources(committed) != test_sources(nb):
        return committed, f"the released tests of {path.parent.name}/{path.name}, from git: " \
            "the file's test cells were edited"
    return nb, where


def _shell() -> Any:
    """The running IPython shell, or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python without IPython
        return None
    return get_ipython()


def _python(source: str) -> str:
    """A cell's source as plain Python (IPython's magics turned into calls, as in a kernel)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # plain Python without IPython: cells are plain Python then
        return source
    return TransformerManager().transform_cell(source)


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _WIDTH else text[: _WIDTH - 3] + "..."


def _failure(
    exc: BaseException, tb: TracebackType | None, filename: str, source: str, missing: set[str]
) -> str:
    """What failed, in words: the message, or the false assertion, or the error and its place."""
    lines = source.splitlines()
    check_line, inner = None, None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == filename:
            check_line = tb.tb_lineno
        else:
            inner = code.co_name
        tb = tb.tb_next
    at = ""
    if check_line is not None and 0 < check_line <= len(lines):
        at = lines[check_line - 1].strip()
    if isinstance(exc, AssertionError):
        message = str(exc).strip()
        if message:
            return _one_line(message)
        return _one_line(f"this was false: {at}" if at else "an assertion failed")
    kind = type(exc).__name__
    if isinstance(exc, NotImplementedError) and inner:
        return _one_line(f"{inner}() raised NotImplementedError: write your solution in its cell")
    if isinstance(exc, NameError) and getattr(exc, "name", None) in missing:
        return _one_line(f"{exc}: run your solution cell first")
    detail = f"{kind}: {exc}" if str(exc) else kind
    where = f" in {inner}()" if inner and inner != "<module>" else ""
    return _one_line(f"{detail}{where}" + (f", at: {at}" if at else ""))


def _run(text: str, filename: str, env: dict, missing: set[str]) -> tuple[bool, str]:
    """Run one cell's source in `env`, its output hidden: (ran to the end, what failed)."""
    try:
        code = compile(_python(text), filename, "exec")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(code, env)
    except KeyboardInterrupt:
        return False, _INTERRUPTED
    except BaseException as exc:  # noqa: BLE001 - whatever a check raises is reported, SystemExit too
        return False, _failure(exc, exc.__traceback__, filename, text, missing)
    return True, ""


def _close_new_figures(before: set[int]) -> None:
    """Close the figures a setup cell drew, so that the inline backend does not show them."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        for number in set(pyplot.get_fignums()) - before:
            pyplot.close(number)


def check_my_work(
    name: str,
    *,
    namespace: dict | None = None,
    exercises: str | Path | None = None,
    show: bool = True,
) -> MyWork:
    """Run an exercise's graded checks on your functions and print what passed and what failed.

    Parameters
    ----------
    name : str
        The exercise: the notebook's file name without ``.ipynb`` (``"01_replication"``).
    namespace : dict, optional
        Where your functions are; default the notebook's (IPython's user namespace, or the
        caller's globals outside IPython). Only the names your solution cells define are taken
        from it; nothing in it is changed.
    exercises : path, optional
        The folder of released exercises; default the book's ``exercises/``.
    show : bool, optional
        Print the table (default).

    Returns
    -------
    MyWork
        The checks, with ``.points``, ``.total`` and ``.failed``.

    Raises
    ------
    ValueError
        If there is no such exercise.

    Notes
    -----
    The exercise's setup and test cells run in notebook order in a namespace of their own, as in
    the grader's trusted kernel; their printed output and figures are not shown. Interrupting the
    kernel (a solution that loops) stops at that check, which is reported as interrupted. Your
    grade does not come from here: the grader skips this cell and runs the same checks on its
    own copy of the exercise.
    """
    nb, source = released_exercise(name, exercises)
    if namespace is None:
        shell = _shell()
        if shell is not None:
            namespace = shell.user_ns
        else:
            frame = inspect.currentframe()
            namespace = frame.f_back.f_globals if frame and frame.f_back else {}
    result = MyWork(name, source)
    checks = {c.index: c for c in test_cells(nb)}
    last = max(checks, default=-1)
    # The grader's view: the released setup and test cells in order, in a namespace of their own;
    # each solution cell is replaced by the names its stub defines, taken from the student's
    # namespace (a name the student has not defined stays undefined).
    env: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    pyplot = sys.modules.get("matplotlib.pyplot")
    figures = set(pyplot.get_fignums()) if pyplot is not None else set()
    missing: set[str] = set()
    interrupted = False
    for index, cell in enumerate(nb.cells[: last + 1]):
        tags = cell_tags(cell)
        if cell.get("cell_type") != "code" or HIDDEN_TAG in tags or CHECK_TAG in tags:
            continue
        text = cell_source(cell)
        if SOLUTION_TAG in tags:
            for solution_name in defined_names(stub_source(text)):
                if solution_name in namespace:
                    env[solution_name] = namespace[solution_name]
                else:
                    env.pop(solution_name, None)
                    missing.add(solution_name)
            continue
        check = checks.get(index)
        if check is None:
            if not interrupted:
                ran, failure = _run(text, f"<cell {index + 1}>", env, missing)
                interrupted = failure == _INTERRUPTED
                if not ran and not interrupted:
                    result.notes.append(f"setup cell {index + 1} failed: {failure}")
            continue
        passed, failure = False, "not run: an earlier cell was interrupted"
        if not interrupted:
            passed, failure = _run(text, f"<check {check.name}>", env, missing)
            interrupted = failure == _INTERRUPTED
        result.checks.append(Check(index + 1, check.name, check.points if passed else 0,
                                   check.points, passed, failure))
    _close_new_figures(figures)
    if show:
        print(result.table())
    return result
