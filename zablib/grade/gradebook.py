"""The gradebook: one row per student, notebook and test cell; written as CSV, summed per student."""

from __future__ import annotations

import csv
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CSV_COLUMNS", "FORMULA_STARTS", "STATUSES", "Row", "csv_cell", "summarize", "write_csv"]

#: every status a row can have; only ``passed`` scores points
STATUSES = ("passed", "failed", "timeout", "missing", "invalid-notebook", "error")
#: the gradebook's header, in order
CSV_COLUMNS = ("student", "notebook", "test", "points", "max_points", "status")
#: how a spreadsheet formula can start (a cell starting so is written with a leading ')
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Row:
    """One line of the gradebook: a student's result on one test cell."""

    student: str
    notebook: str
    test: str
    points: int | float
    max_points: int | float
    status: str


def csv_cell(value: object) -> object:
    """A value as a gradebook cell: text a spreadsheet would read as a formula is defused.

    Parameters
    ----------
    value : object
        A field of a :class:`Row`.

    Returns
    -------
    object
        Numbers unchanged; text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
        return gets a leading ``'`` (OWASP's advice against CSV injection).
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(rows: Iterable[Row], path: str | os.PathLike) -> None:
    """Write the gradebook, atomically: the file is the whole new gradebook or the old one.

    Parameters
    ----------
    rows : iterable of ~zablib.grade.gradebook.Row
        As returned by :func:`~zablib.grade.grader.grade`; written in the given order.
    path : path
        The CSV file to (over)write, with the header ``student,notebook,test,points,
        max_points,status``. Text cells pass through :func:`csv_cell`; characters that are not
        UTF-8 are written as backslash escapes.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with open(fd, "w", newline="", encoding="utf-8", errors="backslashreplace") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            for row in rows:
                writer.writerow([csv_cell(getattr(row, c)) for c in CSV_COLUMNS])
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as open() would have made it
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
