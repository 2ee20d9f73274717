"""Grade a class's exercise notebooks with nbval and write a gradebook (CSV).

Usage::

    python -m zablib.grade --pristine exercises --submissions DIR --out grades.csv [-n 2] [--timeout 30]
    python -m zablib.grade --check-solutions exercises [--solutions DIR] [--wrong DIR]

``DIR`` holds one folder per student (``DIR/<student>/NN_topic.ipynb``). The gradebook has one row
per student, notebook and test cell, with the columns ``student,notebook,test,points,max_points,
status``. A per-student summary is printed at the end, and a progress bar is shown on stderr.

How a notebook is graded
------------------------
The student's copy is never trusted beyond its ``solution`` cells. For each pristine exercise
``exercises/NN_topic.ipynb`` the grader takes the pristine notebook, splices in the *source* of
the student's ``solution`` cells (matched by cell id, then by order, see :func:`splice`) and runs
the result with ``pytest --nbval-lax`` (nbval 0.11) in a fresh kernel, with a per-cell timeout.
Test cells, setup cells, their metadata and their outputs all come from the pristine copy, so a
deleted test cell, a test cell edited to ``assert True`` or a test cell with faked outputs changes
nothing. A test cell (code cell tagged ``tests``) scores its points if it passes, else 0.

nbval numbers the items of a notebook ``<path>::Cell N`` where N counts **code cells only**,
from 0 (markdown and raw cells are skipped). :class:`TestCell` keeps that number
(``code_index``) to map results back.

Statuses
--------
``passed``, ``failed``, ``timeout`` (the cell hit the per-cell timeout), ``missing`` (no such
notebook in the student's folder), ``invalid-notebook`` (not JSON, or not a notebook) and ``error``
(the grading machinery failed for that cell, e.g. the pytest process died; not the student's
answer being wrong). Only ``passed`` scores points.

Hard cases, and what happens (each costs only that student's points)
--------------------------------------------------------------------
* ``sys.exit()`` / ``raise SystemExit`` in a solution: IPython turns it into an error in that
  cell; the kernel lives on and the later cells are graded normally.
* ``os._exit(1)``, a segfault, the OOM killer: the kernel dies. nbval 0.11 would wait the whole
  cell timeout and 5 s more; the grader notices the dead kernel within 0.25 s and fails that cell
  and every later one ("Kernel dead on test start").
* An endless loop: the cell hits ``--timeout`` and gets status ``timeout``; nbval interrupts the
  kernel and the later cells still run (a later test that passes is ``passed``). A loop that
  swallows ``KeyboardInterrupt`` gets the kernel killed; a loop that also keeps printing would
  hang nbval 0.11 forever, and the grader cuts it off at ``timeout`` + 5 s. Printed output kept
  per cell is capped at 8 MB of text.
* Notebooks run in batches of ``8 * workers`` per pytest run. If a run dies, or stalls with no
  result for ``timeout`` + 120 s (a solution that kills or stops its parent process does both),
  it is killed and nobody else is lost: with one worker, the notebook that was running when it
  died keeps ``error`` on its unfinished cells and the notebooks not yet started are run again;
  with several workers (where an xdist worker crash is reported the same way), each unfinished
  notebook is run again alone, and cells that still get no result are ``error``.
* Defeating the tests from a solution cell. Rebinding ``AssertionError`` or builtins does not
  change what ``assert`` raises. Hiding errors with ``get_ipython().set_custom_exc`` is caught:
  the grader checks the kernel's own ``execute_reply`` status. Emptying or rewriting the later
  cells with an IPython input transformer is caught: each test cell (unless it checks outputs)
  gets a random token assigned on its last line at run time, and the grader reads it back.

Limits
------
* The grader is not a sandbox. Students' code runs with the grader's rights: it can read the
  solutions, write files, or edit the results of a run on purpose. Grade in a throw-away
  container or as an unprivileged user.
* Test cells share the kernel with the student's code, so a targeted attack still wins: an object
  whose ``__eq__`` always returns True passes ``assert f(3) == 2`` (write ``assert type(r) is int
  and r == 2``), patching the modules the tests import, or an input transformer that keeps the
  token line. Tests should check types and not trust names a solution cell could rebind.
* A test cell that starts with a cell magic gets the token line inside its body; do not use
  cell magics (``%%bash``) in test cells.
* Only top-level non-notebook files of the pristine folder are copied next to the spliced
  notebooks (helpers such as ``_checks.py``); sub-folders are not.
* Outputs of the spliced notebook are cleared except in cells that ask nbval to check them
  (``nbval-check-output``), so a pristine notebook saved with outputs but no execution counts
  does not trip nbval's "Unrun reference cell has outputs".
* A submitted notebook that is a symbolic link to a file outside the student's folder (say, the
  solution) is ``invalid-notebook``.
* ``error`` is also what an innocent notebook gets if the pytest run it was in dies for a reason
  of its own (out of memory) while that notebook was running with one worker: re-grade those.
"""

from __future__ import annotations

import argparse
import copy
import csv
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
import pytest

__all__ = [
    "CSV_COLUMNS",
    "STATUSES",
    "GradeInputError",
    "Row",
    "TestCell",
    "check_exercises",
    "grade",
    "main",
    "splice",
    "summarize",
    "test_cells",
    "write_csv",
]

SOLUTION_TAG = "solution"
TESTS_TAG = "tests"
STATUSES = ("passed", "failed", "timeout", "missing", "invalid-notebook", "error")
CSV_COLUMNS = ("student", "notebook", "test", "points", "max_points", "status")

#: seconds without any new cell result after which a pytest run is considered stuck
STALL_GRACE = 120.0
#: seconds after the cell timeout at which a cell still streaming output is cut off
OUTPUT_GRACE = 5.0
#: characters of printed output kept per cell (the rest is dropped, not compared)
OUTPUT_CAP = 8_000_000

_POINTS_RE = re.compile(r"^#\s*points\s*:\s*(\d+(?:\.\d+)?)\s*$", re.IGNORECASE)
_NAME_RE = re.compile(r"^#\s*test\s*:\s*(\S.*?)\s*$", re.IGNORECASE)
_TOKEN_VAR = "_zablib_grade_token"


class GradeInputError(ValueError):
    """Bad input to the grader: a folder or notebook that cannot be graded as given."""


@dataclass(frozen=True)
class TestCell:
    """One graded cell of a pristine exercise notebook.

    Attributes
    ----------
    id : str
        The cell's nbformat 4.5 id (stable across edits).
    name : str
        The name shown in the gradebook: a ``# test: name`` comment if present, else the id.
    points : int or float
        What the cell is worth: metadata ``points`` if set, else a ``# points: N`` comment, else 1.
    index : int
        Position among all cells of the notebook.
    code_index : int
        Position among code cells only; nbval names the cell's item ``<path>::Cell <code_index>``.
    """

    __test__ = False  # not a pytest test class, despite its name

    id: str
    name: str
    points: int | float
    index: int
    code_index: int


@dataclass(frozen=True)
class Row:
    """One line of the gradebook: a student's result on one test cell."""

    student: str
    notebook: str
    test: str
    points: int | float
    max_points: int | float
    status: str


# --------------------------------------------------------------------------- notebooks


def _tags(cell: Any) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _leading_comments(source: str) -> list[str]:
    lines = []
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break
        lines.append(stripped)
    return lines


def test_cells(nb: nbformat.NotebookNode) -> list[TestCell]:
    """List the graded cells of a notebook, in notebook order.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        A (pristine) exercise notebook, nbformat 4.5 or later.

    Returns
    -------
    list of TestCell
        The code cells tagged ``tests``, with their points and names. Points come from cell
        metadata ``points`` if set, else from a ``# points: N`` comment in the cell's leading
        comment lines, else 1; the name from a ``# test: name`` comment, else the cell id.

    Raises
    ------
    GradeInputError
        If a test cell has no id, bad points, or two test cells share a name.
    """
    cells: list[TestCell] = []
    code_index = -1
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        code_index += 1
        if TESTS_TAG not in _tags(cell):
            continue
        cell_id = cell.get("id")
        if not cell_id:
            raise GradeInputError(
                f"test cell {index} has no cell id; save the notebook as nbformat 4.5 "
                "(nbformat >= 5.1 adds ids)"
            )
        points: int | float = 1
        name = str(cell_id)
        for line in _leading_comments(_source(cell)):
            if m := _POINTS_RE.match(line):
                points = _number(m.group(1))
            elif m := _NAME_RE.match(line):
                name = m.group(1)
        meta = cell.get("metadata", {}).get("points")
        if meta is not None:
            if isinstance(meta, bool) or not isinstance(meta, int | float) or meta < 0:
                raise GradeInputError(f"test cell {cell_id}: metadata points={meta!r} is not >= 0")
            points = _number(str(meta))
        cells.append(TestCell(str(cell_id), name, points, index, code_index))
    names = Counter(c.name for c in cells)
    if dupes := sorted(n for n, k in names.items() if k > 1):
        raise GradeInputError(f"two test cells share the name {dupes[0]!r}")
    return cells


def _is_solution(cell: Any) -> bool:
    return cell.get("cell_type") == "code" and SOLUTION_TAG in _tags(cell)


def splice(
    pristine_nb: nbformat.NotebookNode, submission_nb: nbformat.NotebookNode
) -> nbformat.NotebookNode:
    """Build the notebook to grade: the pristine notebook with the student's solution sources.

    Parameters
    ----------
    pristine_nb : nbformat.NotebookNode
        The instructor's exercise notebook. It is not modified.
    submission_nb : nbformat.NotebookNode
        The student's copy. Only the sources of its solution cells are used.

    Returns
    -------
    nbformat.NotebookNode
        A copy of `pristine_nb` whose ``solution`` cells hold the student's source (outputs
        cleared). Each pristine solution cell takes the student's code cell with the same id
        (even if the student dropped its tag); the pristine solution cells left over take the
        student's unused ``solution``-tagged cells in order. A solution cell with no match keeps
        the pristine stub. Everything else (test and setup cells, metadata, outputs) is pristine.
    """
    result = copy.deepcopy(pristine_nb)
    sub_code = [c for c in submission_nb.get("cells", []) if c.get("cell_type") == "code"]
    by_id = {c["id"]: c for c in sub_code if c.get("id")}
    targets = [c for c in result.cells if _is_solution(c)]
    chosen: dict[int, Any] = {}
    used: set[int] = set()
    for k, cell in enumerate(targets):
        match = by_id.get(cell.get("id"))
        if match is not None and id(match) not in used:
            chosen[k] = match
            used.add(id(match))
    spare = iter(c for c in sub_code if SOLUTION_TAG in _tags(c) and id(c) not in used)
    for k in range(len(targets)):
        if k not in chosen:
            match = next(spare, None)
            if match is None:
                break
            chosen[k] = match
    for k, match in chosen.items():
        targets[k].source = _source(match)
        targets[k].outputs = []
        targets[k].execution_count = None
    return result


def _read_pristine(path: Path) -> nbformat.NotebookNode:
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4)
    except (OSError, ValueError, nbformat.reader.NotJSONError) as exc:
        raise GradeInputError(f"pristine notebook {path} cannot be read: {exc}") from exc
    for index, cell in enumerate(raw.get("cells", [])):
        if TESTS_TAG in _tags(cell) and not cell.get("id"):
            # nbformat would invent a random id here: not stable across runs
            raise GradeInputError(
                f"pristine notebook {path}: test cell {index} has no cell id; save it as "
                "nbformat 4.5 (nbformat >= 5.1 adds ids)"
            )
    return nb


def _read_submission(path: Path, inside: Path | None = None) -> nbformat.NotebookNode | None:
    """The student's notebook, or None if it is not a readable notebook (or links outside)."""
    try:
        if inside is not None and not path.resolve().is_relative_to(inside.resolve()):
            return None
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text)
        if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nbformat.reads(text, as_version=4)
    except Exception:  # anything a student's file does is "invalid"
        return None


def _checks_output(cell: Any) -> bool:
    tags = _tags(cell)
    if "nbval-ignore-output" in tags:
        return False
    marks = {line.lstrip("#").strip() for line in _leading_comments(_source(cell))}
    return "nbval-check-output" in tags or "NBVAL_CHECK_OUTPUT" in marks


def _for_nbval(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop the outputs nbval --nbval-lax does not compare (it refuses unrun cells with any)."""
    for cell in nb.cells:
        if cell.get("cell_type") == "code" and not _checks_output(cell):
            cell.outputs = []
            cell.execution_count = None
    return nb


@dataclass
class _Exercise:
    name: str
    nb: nbformat.NotebookNode
    tests: list[TestCell]


def _load_exercises(pristine_dir: Path) -> list[_Exercise]:
    if not pristine_dir.is_dir():
        raise GradeInputError(f"--pristine {pristine_dir}: no such directory")
    paths = sorted(p for p in pristine_dir.glob("*.ipynb") if p.is_file())
    if not paths:
        raise GradeInputError(f"--pristine {pristine_dir}: no exercise notebooks (*.ipynb) in it")
    exercises = []
    for path in paths:
        nb = _read_pristine(path)
        try:
            tests = test_cells(nb)
        except GradeInputError as exc:
            raise GradeInputError(f"pristine notebook {path}: {exc}") from exc
        if not tests:
            raise GradeInputError(
                f"pristine notebook {path} has no cells tagged {TESTS_TAG!r}: nothing to grade"
            )
        exercises.append(_Exercise(path.name, nb, tests))
    return exercises


def _find_students(submissions_dir: Path) -> list[str]:
    if not submissions_dir.is_dir():
        raise GradeInputError(f"--submissions {submissions_dir}: no such directory")
    students = sorted(
        p.name for p in submissions_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    if not students:
        raise GradeInputError(
            f"--submissions {submissions_dir}: no student folders in it "
            "(expected one folder per student, each holding that student's notebooks)"
        )
    return students


def _find_submission(student_dir: Path, name: str) -> Path | None:
    direct = student_dir / name
    if direct.is_file():
        return direct
    found = sorted(
        (p for p in student_dir.rglob(name) if p.is_file() and ".ipynb_checkpoints" not in p.parts),
        key=lambda p: (len(p.parts), str(p)),
    )
    return found[0] if found else None


# --------------------------------------------------------------------------- running


@dataclass
class _Job:
    student: str
    exercise: _Exercise
    rel: str = ""  # spliced notebook, relative to the work dir
    n_code: int = 0
    status: str | None = None  # preset: missing / invalid-notebook
    records: dict[int, dict] = field(default_factory=dict)
    counted: bool = False  # shown as done on the progress bar

    def complete(self) -> bool:
        return len(self.records) >= self.n_code


class _Runner:
    """Runs batches of spliced notebooks under pytest and collects per-cell records."""

    def __init__(self, workdir: Path, workers: int, timeout: float, bar: Any) -> None:
        self.workdir = workdir
        self.workers = workers
        self.timeout = timeout
        self.bar = bar
        self.runs = 0
        (workdir / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")

    def run(self, jobs: list[_Job], batch_size: int) -> None:
        for start in range(0, len(jobs), batch_size):
            self._run_robustly(jobs[start : start + batch_size])
        self.bar.update(sum(not j.counted for j in jobs))  # those left with 'error' cells

    def _run_robustly(self, jobs: list[_Job]) -> None:
        """Run a batch; if the run dies or stalls, grade everyone it did not finish."""
        self._pytest(jobs)
        unfinished = [j for j in jobs if not j.complete()]
        if not unfinished or len(jobs) == 1:
            return  # a notebook run alone keeps 'error' on the cells it did not finish
        print(
            f"zablib.grade: a pytest run died before finishing {_names(unfinished)}; "
            "grading those again",
            file=sys.stderr,
        )
        partial = [j for j in unfinished if j.records]
        untouched = [j for j in unfinished if not j.records]
        if min(self.workers, len(jobs)) == 1:
            # one notebook at a time, in order: the one in progress brought the run down
            culprit = partial[:1] or untouched[:1]
            rest = [j for j in untouched if j not in culprit]
            if rest:
                self._run_robustly(rest)
            return
        for job in partial:  # several were in progress: find out which, one per run
            job.records.clear()
            self._pytest([job])
        if len(untouched) < len(jobs):
            self._run_robustly(untouched)
        else:
            for job in untouched:
                self._pytest([job])

    def _command(self, jobs: list[_Job], results: Path) -> list[str]:
        workers = min(self.workers, len(jobs))
        cmd = [
            sys.executable, "-m", "pytest", "-c", "pytest.ini", "--rootdir", ".",
            "-p", "no:cacheprovider", "-p", "nbval.plugin", "-p", "zablib.grade",
            "--color=no", "-q", "--tb=short",
            "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout", str(self.timeout),
            "--zablib-grade-results", str(results),
        ]  # fmt: skip
        if workers > 1:
            cmd += ["-p", "xdist.plugin", "-n", str(workers), "--dist", "loadscope"]
        return cmd + [j.rel for j in jobs]

    def _env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTEST_", "COV_CORE_")) and k != "PYTHONSTARTUP"
        }
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # no stray plugin reorders or skips cells
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        env["IPYTHONDIR"] = str(self.workdir / ".ipython")  # no instructor startup files
        return env

    def _pytest(self, jobs: list[_Job]) -> None:
        self.runs += 1
        results = self.workdir / f"run{self.runs:04d}.jsonl"
        log = self.workdir / f"run{self.runs:04d}.log"
        results.touch()
        by_rel = {j.rel: j for j in jobs}
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                self._command(jobs, results), cwd=self.workdir, env=self._env(),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            try:
                self._follow(proc, results, by_rel)
            finally:
                _kill_group(proc)
        self._read(results, by_rel, 0)
        rc = proc.returncode
        if rc == pytest.ExitCode.USAGE_ERROR or (
            rc == pytest.ExitCode.INTERNAL_ERROR and not any(j.records for j in jobs)
        ):
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"pytest could not run the notebooks (exit {rc}); log:\n{tail}")
        for job in jobs:
            self._count(job)

    def _follow(self, proc: subprocess.Popen, results: Path, by_rel: dict[str, _Job]) -> None:
        offset = 0
        last = time.monotonic()
        while proc.poll() is None:
            time.sleep(0.2)
            new_offset = self._read(results, by_rel, offset)
            if new_offset != offset:
                offset, last = new_offset, time.monotonic()
            elif time.monotonic() - last > self.timeout + STALL_GRACE:
                print(
                    f"zablib.grade: no result for {self.timeout + STALL_GRACE:.0f} s; "
                    f"killing the pytest run of {_names(list(by_rel.values()))}",
                    file=sys.stderr,
                )
                return

    def _read(self, results: Path, by_rel: dict[str, _Job], offset: int) -> int:
        with open(results, "rb") as f:
            f.seek(offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            try:
                rec = json.loads(line)
                rel, _, cell = rec["nodeid"].partition("::")
                job = by_rel.get(rel)
                index = int(cell.removeprefix("Cell "))
            except (ValueError, KeyError, AttributeError):
                continue
            if job is not None:
                job.records[index] = rec
                self._count(job)
        return offset + end

    def _count(self, job: _Job) -> None:
        if job.complete() and not job.counted:
            job.counted = True
            self.bar.update(1)


def _names(jobs: list[_Job]) -> str:
    return ", ".join(f"{j.student}/{j.exercise.name}" for j in jobs)


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            if hasattr(os, "killpg"):
                os.killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover - Windows
                proc.kill()
        except ProcessLookupError:
            pass
    proc.wait()


def _status(rec: dict | None) -> str:
    if rec is None:
        return "error"
    message = rec.get("message", "")
    if rec["when"] == "setup":
        return "error"  # the kernel did not start: not the student's doing
    if "crashed while running" in message:
        return "error"
    if rec["outcome"] == "passed":
        return "passed"  # includes XPASS: a cell that passes after an earlier timeout
    if "Timeout of" in message:
        return "timeout"
    return "failed"


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return _NoBar()
    return tqdm(total=total, unit="nb", desc="grading", file=sys.stderr, dynamic_ncols=True)


def grade(
    pristine_dir: str | os.PathLike,
    submissions_dir: str | os.PathLike,
    *,
    workers: int = 1,
    timeout: float = 30,
    progress: bool = False,
    batch_size: int | None = None,
    workdir: str | os.PathLike | None = None,
) -> list[Row]:
    """Grade every student's copy of every exercise.

    Parameters
    ----------
    pristine_dir : path
        Folder of pristine exercise notebooks (``*.ipynb`` at top level; ``solutions/`` and
        other sub-folders are ignored).
    submissions_dir : path
        One folder per student; each holds that student's notebooks under the pristine names
        (looked up at top level first, then anywhere below, ignoring ``.ipynb_checkpoints``).
    workers : int, optional
        Notebooks run in parallel (pytest-xdist ``--dist loadscope``: one notebook per scope).
    timeout : float, optional
        Seconds each cell may run.
    progress : bool, optional
        Show a progress bar (notebooks graded) on stderr.
    batch_size : int, optional
        Notebooks per pytest run; default ``8 * workers``. A run that crashes costs a re-run of
        its unfinished notebooks, one at a time.
    workdir : path, optional
        Where to write the spliced notebooks and pytest logs; kept afterwards. Default: a
        temporary folder, removed afterwards.

    Returns
    -------
    list of Row
        One row per student, notebook and test cell, sorted by student, notebook, then test
        cell order.

    Raises
    ------
    GradeInputError
        If a folder is missing or empty, a pristine notebook is unreadable or has no test
        cells, or `workers` / `timeout` are not positive.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise GradeInputError(f"workers must be an integer >= 1, got {workers!r}")
    if not timeout > 0:
        raise GradeInputError(f"timeout must be > 0 seconds, got {timeout!r}")
    if batch_size is not None and batch_size < 1:
        raise GradeInputError(f"batch_size must be >= 1, got {batch_size!r}")
    pristine_dir, submissions_dir = Path(pristine_dir), Path(submissions_dir)
    for module, why in [("nbval", "to run notebooks"), ("xdist", f"for workers={workers}")]:
        if (module == "nbval" or workers > 1) and importlib.util.find_spec(module) is None:
            raise RuntimeError(f"zablib.grade needs {module} ({why}); pip install it")
    exercises = _load_exercises(pristine_dir)
    students = _find_students(submissions_dir)
    helpers = [
        p
        for p in sorted(pristine_dir.iterdir())
        if p.is_file() and p.suffix != ".ipynb" and not p.name.startswith(".")
    ]
    own_dir = workdir is None
    work = Path(tempfile.mkdtemp(prefix="zablib-grade-")) if own_dir else Path(workdir).resolve()
    if not own_dir and work.exists() and any(work.iterdir()):
        if not (work / "pytest.ini").is_file():
            raise GradeInputError(f"--workdir {workdir} is not empty (and not an old work dir)")
        shutil.rmtree(work)  # a work dir of an earlier run: start afresh
    work.mkdir(parents=True, exist_ok=True)
    jobs: list[_Job] = []
    try:
        for student in students:
            for ex in exercises:
                job = _Job(student, ex)
                jobs.append(job)
                path = _find_submission(submissions_dir / student, ex.name)
                submission = None if path is None else _read_submission(path, submissions_dir / student)
                if path is None:
                    job.status = "missing"
                elif submission is None:
                    job.status = "invalid-notebook"
                else:
                    folder = work / "jobs" / f"{len(jobs):05d}"
                    folder.mkdir(parents=True)
                    for helper in helpers:
                        shutil.copy2(helper, folder / helper.name)
                    nbformat.write(_for_nbval(splice(ex.nb, submission)), folder / ex.name)
                    job.rel = f"jobs/{len(jobs):05d}/{ex.name}"
                    job.n_code = sum(c.cell_type == "code" for c in ex.nb.cells)
        runnable = [j for j in jobs if j.status is None]
        bar = _progress_bar(len(jobs), progress)
        bar.update(len(jobs) - len(runnable))
        try:
            if runnable:
                runner = _Runner(work, workers, float(timeout), bar)
                runner.run(runnable, batch_size or 8 * workers)
        finally:
            bar.close()
    finally:
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)
    rows = []
    for job in jobs:
        for cell in job.exercise.tests:
            status = job.status or _status(job.records.get(cell.code_index))
            points = cell.points if status == "passed" else 0
            rows.append(Row(job.student, job.exercise.name, cell.name, points, cell.points, status))
    return rows


# --------------------------------------------------------------------------- output


def write_csv(rows: Iterable[Row], path: str | os.PathLike) -> None:
    """Write the gradebook.

    Parameters
    ----------
    rows : iterable of Row
        As returned by :func:`grade`; written in the given order.
    path : path
        The CSV file to (over)write, with the header ``student,notebook,test,points,
        max_points,status``.
    """
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow([getattr(row, c) for c in CSV_COLUMNS])


def summarize(rows: Sequence[Row]) -> str:
    """Per-student totals, one line each, with a count of the cells that did not pass.

    Parameters
    ----------
    rows : sequence of Row
        The gradebook.

    Returns
    -------
    str
        A small fixed-width table, e.g. ``alice  5/6  failed 1`` (one cell failed).
    """
    totals: dict[str, list] = {}
    for row in rows:
        score, best, notes = totals.setdefault(row.student, [0, 0, Counter()])
        totals[row.student][0] = score + row.points
        totals[row.student][1] = best + row.max_points
        if row.status != "passed":
            notes[row.status] += 1
    width = max([len("student"), *(len(s) for s in totals)])
    lines = [f"{'student':<{width}}  score  cells not passed"]
    for student, (score, best, notes) in totals.items():
        detail = ", ".join(f"{status} {n}" for status, n in sorted(notes.items()))
        lines.append(f"{student:<{width}}  {f'{score:g}/{best:g}':>5}  {detail}".rstrip())
    return "\n".join(lines)


def check_exercises(
    pristine_dir: str | os.PathLike,
    solutions_dir: str | os.PathLike | None = None,
    *,
    wrong_dir: str | os.PathLike | None = None,
    workers: int = 1,
    timeout: float = 30,
    progress: bool = False,
) -> list[str]:
    """Prove the exercises grade both ways: solutions score full marks, stubs score zero.

    Parameters
    ----------
    pristine_dir : path
        The exercise folder (the student copies).
    solutions_dir : path, optional
        Filled-in notebooks under the same names; default ``pristine_dir/solutions``.
    wrong_dir : path, optional
        Plausible wrong answers, laid out like a submissions folder (``wrong_dir/<case>/
        NN_topic.ipynb``); each notebook there must score less than full marks.
    workers, timeout, progress
        As for :func:`grade`.

    Returns
    -------
    list of str
        The problems found; empty if every solution passes every test cell, every pristine
        stub passes none, every wrong answer loses points, and each solution notebook carries
        the same test cells as its pristine notebook.
    """
    pristine_dir = Path(pristine_dir)
    solutions_dir = Path(solutions_dir) if solutions_dir else pristine_dir / "solutions"
    exercises = _load_exercises(pristine_dir)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="zablib-check-") as tmp:
        subs = Path(tmp)
        for ex in exercises:
            (subs / "stub").mkdir(exist_ok=True)
            shutil.copy2(pristine_dir / ex.name, subs / "stub" / ex.name)
            solution = solutions_dir / ex.name
            if not solution.is_file():
                problems.append(f"{ex.name}: no solution notebook {solution}")
                continue
            nb = _read_submission(solution)
            if nb is None:
                problems.append(f"{ex.name}: solution notebook {solution} is not a notebook")
                continue
            if _test_sources(nb) != _test_sources(ex.nb):
                problems.append(
                    f"{ex.name}: the test cells of {solution} differ from the pristine notebook's"
                )
            (subs / "solution").mkdir(exist_ok=True)
            shutil.copy2(solution, subs / "solution" / ex.name)
        cases = []
        if wrong_dir is not None:
            for case in sorted(p for p in Path(wrong_dir).iterdir() if p.is_dir()):
                cases.append(f"wrong-{case.name}")
                shutil.copytree(case, subs / cases[-1])
        rows = grade(pristine_dir, subs, workers=workers, timeout=timeout, progress=progress)
    scores: dict[tuple[str, str], list] = {}
    for row in rows:
        if row.student == "solution" and row.status not in ("passed", "missing"):
            problems.append(
                f"{row.notebook} [{row.test}]: the solution scores 0 ({row.status}); "
                "it must pass every test cell"
            )
        if row.student == "stub" and row.status == "passed":
            problems.append(
                f"{row.notebook} [{row.test}]: the unsolved stub passes this test cell; "
                "a stub must score zero"
            )
        if row.student in cases and row.status != "missing":
            got = scores.setdefault((row.student, row.notebook), [0, 0])
            got[0] += row.points
            got[1] += row.max_points
    for (case, notebook), (score, best) in sorted(scores.items()):
        if score >= best:
            problems.append(f"{notebook}: the wrong answer {case[6:]!r} scores full marks")
    return problems


def _test_sources(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(c.get("id", ""), _source(c)) for c in nb.cells if TESTS_TAG in _tags(c)]


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m zablib.grade",
        description="Grade students' exercise notebooks against the pristine copies with nbval.",
    )
    p.add_argument("--pristine", metavar="DIR", help="folder of pristine exercise notebooks")
    p.add_argument("--submissions", metavar="DIR", help="one folder per student")
    p.add_argument("--out", metavar="CSV", default="grades.csv", help="gradebook to write")
    p.add_argument("-n", "--workers", type=int, default=1, help="notebooks run in parallel")
    p.add_argument("--timeout", type=float, default=30, help="seconds per cell (default 30)")
    p.add_argument("--workdir", metavar="DIR", help="keep spliced notebooks and logs here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--check-solutions", metavar="DIR",
        help="instead of grading: check that DIR/solutions score full marks and the stubs zero",
    )  # fmt: skip
    p.add_argument("--solutions", metavar="DIR", help="with --check-solutions: solutions folder")
    p.add_argument("--wrong", metavar="DIR", help="with --check-solutions: wrong answers folder")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success; 1 if ``--check-solutions`` found problems.

    Raises
    ------
    SystemExit
        With an argparse-style message on bad input.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    progress = not args.no_progress
    try:
        if args.check_solutions:
            problems = check_exercises(
                args.check_solutions, args.solutions, wrong_dir=args.wrong,
                workers=args.workers, timeout=args.timeout, progress=progress,
            )  # fmt: skip
            for problem in problems:
                print(f"PROBLEM: {problem}")
            if problems:
                return 1
            print(f"ok: solutions in {args.solutions or Path(args.check_solutions, 'solutions')} "
                  "score full marks and the stubs zero")  # fmt: skip
            return 0
        if not args.pristine or not args.submissions:
            parser.error("--pristine and --submissions are required (or use --check-solutions)")
        rows = grade(
            args.pristine, args.submissions, workers=args.workers, timeout=args.timeout,
            progress=progress, workdir=args.workdir,
        )  # fmt: skip
    except GradeInputError as exc:
        parser.error(str(exc))
    write_csv(rows, args.out)
    print(summarize(rows))
    print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- pytest plugin
# Loaded with ``-p zablib.grade`` inside the grading subprocess only (and its xdist workers);
# every hook does nothing unless --zablib-grade-results is given.


class KernelDiedError(RuntimeError):
    """The notebook's kernel process is gone (os._exit, a crash, the OOM killer)."""


class TamperedCellError(AssertionError):
    """A test cell 'passed' but did not really run to its end without error."""


_plugin: dict[str, Any] = {"results": None}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--zablib-grade-results FILE`` (JSON lines, one per cell result)."""
    parser.getgroup("zablib-grade").addoption(
        "--zablib-grade-results", default=None, help="zablib.grade: write cell results here"
    )


def pytest_configure(config: pytest.Config) -> None:
    """Patch nbval's kernel handling and open the results file (controller process only)."""
    path = config.getoption("zablib_grade_results", None)
    if not path:
        return
    _patch_nbval()
    if not hasattr(config, "workerinput"):
        _plugin["results"] = open(path, "a", encoding="utf-8")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the results file."""
    if _plugin["results"] is not None:
        _plugin["results"].close()
        _plugin["results"] = None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Append one JSON line per cell result (setup errors and call outcomes)."""
    out = _plugin["results"]
    if out is None or report.when == "teardown":
        return
    if report.when == "setup" and report.outcome == "passed":
        return
    try:
        message = report.longreprtext[-4000:]
    except Exception:  # a result must be written whatever its repr does
        message = ""
    out.write(
        json.dumps(
            {
                "nodeid": report.nodeid,
                "when": report.when,
                "outcome": report.outcome,
                "xfail": hasattr(report, "wasxfail"),
                "duration": round(report.duration, 3),
                "message": message,
            }
        )
        + "\n"
    )
    out.flush()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Run an nbval cell with a hard deadline, then verify that a passed test cell really ran."""
    cell = getattr(item, "cell", None)
    if cell is None or not item.config.getoption("zablib_grade_results", None):
        return (yield)
    parent = item.parent
    kernel = getattr(parent, "kernel", None)
    timeout = float(item.config.option.nbval_cell_timeout)
    is_test = TESTS_TAG in _tags(cell)
    token = secrets.token_hex(16) if is_test and not item.options["check"] else None
    original = cell.source
    if token is not None:
        cell.source = f"{original}\n{_TOKEN_VAR} = {token!r}\n"
    if kernel is not None:
        kernel._zablib_last_reply = None
    parent._zablib_deadline = time.monotonic() + timeout + OUTPUT_GRACE
    parent._zablib_output = 0
    try:
        result = yield
    finally:
        parent._zablib_deadline = None
        cell.source = original
    if not is_test or kernel is None:
        return result
    reply = kernel._zablib_last_reply or {}
    if reply.get("status") == "error" and not item.options["check_exception"]:
        raise TamperedCellError(
            f"the cell raised {reply.get('ename')} but the error was hidden "
            "(a custom exception handler?)"
        )
    if token is not None and _user_expression(kernel, _TOKEN_VAR, timeout) != repr(token):
        raise TamperedCellError(
            "the test cell did not run to its last line (was it rewritten by the solution?)"
        )
    return result


def _user_expression(kernel: Any, expression: str, timeout: float) -> str | None:
    msg_id = kernel.kc.execute(
        "", silent=True, store_history=False, user_expressions={"v": expression},
        allow_stdin=False, stop_on_error=False,
    )  # fmt: skip
    try:
        kernel.await_reply(msg_id, timeout=timeout)
    except Empty:
        return None
    value = (kernel._zablib_last_reply or {}).get("user_expressions", {}).get("v", {})
    return value.get("data", {}).get("text/plain") if value.get("status") == "ok" else None


def _patch_nbval() -> None:
    from nbval.kernel import RunningKernel
    from nbval.plugin import IPyNbFile

    if getattr(RunningKernel, "_zablib_patched", False):
        return
    original_get = IPyNbFile.get_kernel_message

    def await_reply(self: Any, msg_id: str, timeout: float | None = None) -> None:
        # as nbval's, but notices a dead kernel at once and keeps the reply's content
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
            try:
                msg = self.get_message(stream="shell", timeout=max(left, 0))
            except Empty:
                if not self.is_alive():
                    try:
                        self.stop()
                    except Exception:  # it is dead already
                        pass
                    raise KernelDiedError(
                        "the kernel died (os._exit, a crash or out of memory)"
                    ) from None
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                if msg["content"]["status"] == "aborted":
                    raise RuntimeError("Kernel aborted execution request")
                self._zablib_last_reply = msg["content"]
                return

    def get_kernel_message(self: Any, timeout: float | None = None, stream: str = "iopub") -> Any:
        # nbval 0.11 reads output until the kernel goes idle: forever if a cell that ignores
        # interrupts keeps printing; and it keeps all output in memory
        deadline = getattr(self, "_zablib_deadline", None)
        if deadline is not None and time.monotonic() > deadline:
            raise Empty
        msg = original_get(self, timeout=timeout, stream=stream)
        if stream == "iopub" and msg.get("msg_type") == "stream":
            used = getattr(self, "_zablib_output", 0) + len(msg["content"].get("text", ""))
            self._zablib_output = used
            if used > OUTPUT_CAP:
                msg["content"]["text"] = ""
        return msg

    RunningKernel.await_reply = await_reply
    IPyNbFile.get_kernel_message = get_kernel_message
    RunningKernel._zablib_patched = True


if __name__ == "__main__":
    sys.exit(main())
