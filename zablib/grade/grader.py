"""Grade a class: pristine exercises and a folder of submissions in, gradebook rows out.

For each student and exercise, :func:`grade` finds the student's notebook
(:mod:`zablib.grade.folders`), splices its solution cells into the pristine notebook
(:mod:`zablib.grade.notebook`) in a work folder, has :class:`~zablib.grade.runner.Runner` run
them all, and turns the cell records into :class:`~zablib.grade.gradebook.Row` objects.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from zablib.grade.folders import Exercise, find_students, find_submission, helper_files, load_exercises
from zablib.grade.gradebook import Row
from zablib.grade.notebook import GradeInputError, for_nbval, read_submission, splice
from zablib.grade.runner import NotebookRun, Runner

__all__ = ["grade"]


@dataclass
class _Job:
    """One student's copy of one exercise: either a notebook to run or a preset status."""

    student: str
    exercise: Exercise
    status: str | None = None  # preset: missing / invalid-notebook
    run: NotebookRun | None = None

    def cell_status(self, code_index: int) -> str:
        if self.status is not None:
            return self.status
        assert self.run is not None  # a job without a preset status was spliced
        return self.run.status(code_index)


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
    return work


def _prepare(
    work: Path, exercises: list[Exercise], students: list[str], submissions_dir: Path, helpers: list[Path]
) -> list[_Job]:
    """Splice every submission into its own folder of `work`; preset the status of the others."""
    jobs: list[_Job] = []
    for student in students:
        for ex in exercises:
            job = _Job(student, ex)
            jobs.append(job)
            path = find_submission(submissions_dir / student, ex.name)
            submission = None if path is None else read_submission(path, submissions_dir / student)
            if path is None:
                job.status = "missing"
            elif submission is None:
                job.status = "invalid-notebook"
            else:
                folder = work / "jobs" / f"{len(jobs):05d}"
                folder.mkdir(parents=True)
                for helper in helpers:
                    shutil.copy2(helper, folder / helper.name)
                nbformat.write(for_nbval(splice(ex.nb, submission)), folder / ex.name)
                job.run = NotebookRun(
                    path=f"jobs/{len(jobs):05d}/{ex.name}",
                    code_cells=sum(c.cell_type == "code" for c in ex.nb.cells),
                    label=f"{student}/{ex.name}",
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
    list of ~zablib.grade.gradebook.Row
        One row per student, notebook and test cell, sorted by student, notebook, then test
        cell order.

    Raises
    ------
    GradeInputError
        If a folder is missing or empty, a pristine notebook is unreadable or has no test
        cells, or `workers` / `timeout` are not positive.
    RuntimeError
        If `workers` > 1 and pytest-xdist is not installed, or pytest cannot run at all.
    """
    _check_arguments(workers, timeout, batch_size)
    pristine_dir, submissions_dir = Path(pristine_dir), Path(submissions_dir)
    exercises = load_exercises(pristine_dir)
    students = find_students(submissions_dir)
    helpers = helper_files(pristine_dir)
    work = _work_folder(workdir)
    try:
        jobs = _prepare(work, exercises, students, submissions_dir, helpers)
        runs = [j.run for j in jobs if j.run is not None]
        bar = _progress_bar(len(jobs), progress)
        bar.update(len(jobs) - len(runs))
        try:
            if runs:
                Runner(work, workers, float(timeout), bar).run(runs, batch_size or 8 * workers)
        finally:
            bar.close()
    finally:
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    rows = []
    for job in jobs:
        for cell in job.exercise.tests:
            status = job.cell_status(cell.code_index)
            points = cell.points if status == "passed" else 0
            rows.append(Row(job.student, job.exercise.name, cell.name, points, cell.points, status))
    return rows
