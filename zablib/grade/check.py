"""Prove that a set of exercises grades both ways: solutions score full marks, stubs zero.

CI runs :func:`check_exercises` on the book's exercises (``tests/test_exercises.py``); an
instructor runs it as ``python -m zablib.grade --check-solutions DIR``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from zablib.grade.folders import load_exercises
from zablib.grade.grader import grade
from zablib.grade.notebook import read_submission, test_sources

__all__ = ["check_exercises"]


def check_exercises(
    pristine_dir: str | os.PathLike,
    solutions_dir: str | os.PathLike | None = None,
    *,
    wrong_dir: str | os.PathLike | None = None,
    workers: int = 1,
    timeout: float = 30,
    progress: bool = False,
    sandbox: bool | str = "auto",
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
        As for :func:`~zablib.grade.grader.grade`.
    sandbox : bool or "auto", optional
        As for :func:`~zablib.grade.grader.grade`; by default the notebooks (the instructor's
        own) run in sandboxes where they can be made and in plain processes elsewhere.

    Returns
    -------
    list of str
        The problems found; empty if every solution passes every test cell, every pristine
        stub passes none, every wrong answer loses points, and each solution notebook carries
        the same test cells as its pristine notebook.
    """
    pristine_dir = Path(pristine_dir)
    solutions_dir = Path(solutions_dir) if solutions_dir else pristine_dir / "solutions"
    exercises = load_exercises(pristine_dir)
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
            nb = read_submission(solution)
            if nb is None:
                problems.append(f"{ex.name}: solution notebook {solution} is not a notebook")
                continue
            if test_sources(nb) != test_sources(ex.nb):
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
        rows = grade(
            pristine_dir, subs, workers=workers, timeout=timeout, progress=progress, sandbox=sandbox
        )
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
