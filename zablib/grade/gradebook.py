"""The gradebook: one row per student, notebook and test cell; written as CSV, summed per student."""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["CSV_COLUMNS", "STATUSES", "Row", "summarize", "write_csv"]

#: every status a row can have; only ``passed`` scores points
STATUSES = ("passed", "failed", "timeout", "missing", "invalid-notebook", "error")
#: the gradebook's header, in order
CSV_COLUMNS = ("student", "notebook", "test", "points", "max_points", "status")


@dataclass(frozen=True)
class Row:
    """One line of the gradebook: a student's result on one test cell."""

    student: str
    notebook: str
    test: str
    points: int | float
    max_points: int | float
    status: str


def write_csv(rows: Iterable[Row], path: str | os.PathLike) -> None:
    """Write the gradebook.

    Parameters
    ----------
    rows : iterable of ~zablib.grade.gradebook.Row
        As returned by :func:`~zablib.grade.grader.grade`; written in the given order.
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
    rows : sequence of ~zablib.grade.gradebook.Row
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
