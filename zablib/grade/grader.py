"""Grade a class: pristine exercises and a folder of submissions in, gradebook rows out.

For each student and exercise, :func:`grade` finds the student's notebook
(:mod:`zablib.grade.folders`), plans its grading (:func:`zablib.grade.plan.trusted_notebook`:
the trusted notebook and the plan of its sandboxed worker) in a work folder, has
:class:`~zablib.grade.runner.Runner` run them all, and turns the cell records into
:class:`~zablib.grade.gradebook.Row` objects. Whatever one submission is or does, it costs only
that student's rows: the run goes on and every row is written.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from zablib.grade.folders import (
    Exercise,
    display_name,
    find_students,
    find_submission,
    helper_files,
    load_exercises,
)
from zablib.grade.gradebook import Row
from zablib.grade.notebook import GradeInputError, TestCell, read_submission
from zablib.grade.plan import PLAN_FILE, trusted_notebook
from zablib.grade.runner import NotebookRun, Runner
from zablib.grade.sandbox import Limits, Sandbox, SandboxUnavailable, probe

__all__ = ["grade", "make_sandbox"]


@dataclass
class _Job:
    """One student's copy of one exercise: either a notebook to run or a preset status."""

    student: str
    exercise: Exercise
    status: str | None = None  # preset: missing / invalid-notebook / error
    run: NotebookRun | None = None
    code_index: dict[str, int] = field(default_factory=dict)

    def cell_status(self, cell: TestCell) -> str:
        if self.status is not None:
            return self.status
        assert self.run is not None  # a job without a preset status was planned
        return self.run.status(self.code_index[cell.id])


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="nb", desc="grading", file=sys.stderr, dynamic_ncols=True)


def _check_arguments(workers: int, timeout: float, batch_size: int | None) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise GradeInputError(f"workers must be an integer >= 1, got {workers!r}")
    if not timeout > 0:
        raise GradeInputError(f"timeout must be > 0 seconds, got {timeout!r}")
    if batch_size is not None and batch_size < 1:
        raise GradeInputError(f"batch_size must be >= 1, got {batch_size!r}")
    if workers > 1 and importlib.util.find_spec("xdist") is None:
        raise RuntimeError(
            f"zablib.grade needs pytest-xdist for workers={workers}; "
            "pip install 'zablib[grade]' (or grade with one worker)"
        )


def _work_folder(workdir: str | os.PathLike | None) -> Path:
    """A fresh work folder: a temporary one, or `workdir` emptied if it is an old work folder."""
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix="zablib-grade-"))
    work = Path(workdir).resolve()
    if work.exists() and any(work.iterdir()):
        if not (work / "pytest.ini").is_file():
            raise GradeInputError(f"--workdir {workdir} is not empty (and not an old work dir)")
        shutil.rmtree(work)  # a work dir of an earlier run: start afresh
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o700)
    return work


def make_sandbox(
    sandbox: bool | str, secrets: list[Path], timeout: float, code_cells: int
) -> Sandbox:
    """The sandbox the workers run in, after checking that one can be made here.

    Parameters
    ----------
    sandbox : bool or "auto"
        True: bubblewrap, or refuse; False: plain worker processes (``--no-sandbox``);
        ``"auto"``: bubblewrap if it works here, else plain processes (for the instructor's
        own notebooks, as :func:`~zablib.grade.check.check_exercises` grades them).
    secrets : list of Path
        What the workers must not see.
    timeout : float
        Seconds per cell (the workers' CPU limit is this per code cell, plus a minute).
    code_cells : int
        Code cells of the longest notebook.

    Returns
    -------
    ~zablib.grade.sandbox.Sandbox

    Raises
    ------
    GradeInputError
        If `sandbox` is True and no sandbox can be made, saying why and what to do.
    """
    limits = Limits(cpu=int(timeout * (code_cells + 2)) + 60)
    if sandbox is False:
        return Sandbox.create("none", secrets, limits)
    box = Sandbox.create("bwrap", secrets, limits)
    try:
        probe(box)
    except SandboxUnavailable as exc:
        if sandbox == "auto":
            return Sandbox.create("none", secrets, limits)
        raise GradeInputError(
            f"cannot sandbox the students' code here: {exc}. Students' code must not run with "
            "your rights; install bubblewrap (apt-get install bubblewrap) and grade on Linux, or, "
            "only if you trust every submission, pass --no-sandbox"
        ) from exc
    return box


def _plan(job: _Job, folder: Path, path: Path, inside: Path, helpers: list[Path], number: int) -> None:
    """Write one submission's trusted notebook and plan into `folder`, or preset its status."""
    submission = read_submission(path, inside)
    if submission is None:
        job.status = "invalid-notebook"
        return
    folder.mkdir(parents=True)
    for helper in helpers:
        shutil.copy2(helper, folder / helper.name)
    planned = trusted_notebook(
        job.exercise.nb, submission, number=number, helpers=[str(folder / h.name) for h in helpers]
    )
    nbformat.write(planned.nb, folder / job.exercise.name)
    (folder / PLAN_FILE).write_text(json.dumps(planned.plan), encoding="ascii")
    job.code_index = planned.code_index
    job.run = NotebookRun(
        path=f"{folder.parent.name}/{folder.name}/{job.exercise.name}",
        code_cells=planned.code_cells,
        label=f"{display_name(job.student)}/{job.exercise.name}",
    )


def _prepare(
    work: Path, exercises: list[Exercise], students: list[str], refused: dict[str, str],
    submissions_dir: Path, helpers: list[Path],
) -> list[_Job]:  # fmt: skip
    """Plan every submission in its own folder of `work`; preset the status of the others."""
    jobs: list[_Job] = []
    for student in students:
        for ex in exercises:
            job = _Job(student, ex)
            jobs.append(job)
            if student in refused:
                job.status = "invalid-notebook"
                continue
            try:
                path = find_submission(submissions_dir / student, ex.name)
                if path is None:
                    job.status = "missing"
                    continue
                folder = work / "jobs" / f"{len(jobs):05d}"
                _plan(job, folder, path, submissions_dir / student, helpers, len(jobs))
            except Exception as exc:  # whatever the file is, it costs only this student
                job.status, job.run = "error", None
                print(
                    f"zablib.grade: cannot grade {display_name(student)}/{ex.name}: "
                    f"{type(exc).__name__}: {display_name(str(exc))[:300]}",
                    file=sys.stderr,
                )
    return jobs


def grade(
    pristine_dir: str | os.PathLike,
    submissions_dir: str | os.PathLike,
    *,
    workers: int = 1,
    timeout: float = 30,
    progress: bool = False,
    batch_size: int | None = None,
    workdir: str | os.PathLike | None = None,
    sandbox: bool | str = True,
) -> list[Row]:
    """Grade every student's copy of every exercise.

    Parameters
    ----------
    pristine_dir : path
        Folder of pristine exercise notebooks (``*.ipynb`` at top level; ``solutions/`` and
        other sub-folders are ignored): the student versions, or the instructor's source with
        reference solutions and hidden tests (see :mod:`zablib.grade.release`).
    submissions_dir : path
        One folder per student; each holds that student's notebooks under the pristine names
        (looked up at top level first, then anywhere below, ignoring ``.ipynb_checkpoints``).
        Hidden entries and files are skipped (and said so on stderr); a student folder that is
        a symbolic link is refused (``invalid-notebook``).
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
        Where to write the trusted notebooks, plans and pytest logs; kept afterwards. Default:
        a temporary folder, removed afterwards.
    sandbox : bool or "auto", optional
        Run the students' code in bubblewrap sandboxes (True, the default: refuse to grade if
        none can be made), in plain processes (False: only for submissions you trust), or
        whichever works here (``"auto"``).

    Returns
    -------
    list of ~zablib.grade.gradebook.Row
        One row per student, notebook and test cell, sorted by student, notebook, then test
        cell order.

    Raises
    ------
    GradeInputError
        If a folder is missing or empty, a pristine notebook is unreadable or has no test
        cells, `workers` / `timeout` are not positive, or no sandbox can be made.
    RuntimeError
        If `workers` > 1 and pytest-xdist is not installed, or pytest cannot run at all.
    """
    _check_arguments(workers, timeout, batch_size)
    pristine_dir, submissions_dir = Path(pristine_dir), Path(submissions_dir)
    exercises = load_exercises(pristine_dir)
    roster = find_students(submissions_dir)
    for note in roster.skipped:
        print(f"zablib.grade: skipped {note} in {submissions_dir}", file=sys.stderr)
    for student, why in roster.refused.items():
        print(f"zablib.grade: refused {display_name(student)}: {why}", file=sys.stderr)
    helpers = helper_files(pristine_dir)
    work = _work_folder(workdir)
    try:
        longest = max(sum(c.cell_type == "code" for c in ex.nb.cells) for ex in exercises)
        box = make_sandbox(sandbox, [pristine_dir, submissions_dir, work], timeout, longest)
        jobs = _prepare(work, exercises, roster.students, roster.refused, submissions_dir, helpers)
        runs = [j.run for j in jobs if j.run is not None]
        bar = _progress_bar(len(jobs), progress)
        bar.update(len(jobs) - len(runs))
        try:
            if runs:
                Runner(work, workers, float(timeout), bar, box).run(runs, batch_size or 8 * workers)
        finally:
            bar.close()
    finally:
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    rows = []
    for job in jobs:
        name = display_name(job.student)
        for cell in job.exercise.tests:
            status = job.cell_status(cell)
            points = cell.points if status == "passed" else 0
            rows.append(Row(name, job.exercise.name, cell.name, points, cell.points, status))
    return rows
