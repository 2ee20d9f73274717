"""One exercise notebook: its graded cells, reading it safely, and splicing a student's answers in.

Nothing here starts a kernel or touches a folder of students; :mod:`zablib.grade.folders` finds
the notebooks and :mod:`zablib.grade.runner` runs them.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

__all__ = [
    "CHECK_TAG",
    "SOLUTION_TAG",
    "TESTS_TAG",
    "GradeInputError",
    "TestCell",
    "cell_source",
    "cell_tags",
    "for_nbval",
    "read_pristine",
    "read_submission",
    "solution_sources",
    "splice",
    "test_cells",
    "test_sources",
]

#: tag of the cells a student edits; only their source is taken from a submission
SOLUTION_TAG = "solution"
#: tag of the graded cells; they always come from the pristine notebook
TESTS_TAG = "tests"
#: tag of an exercise's last cell, the student's "check my work" (:mod:`zablib.grade.mywork`):
#: never graded, never run by the grader
CHECK_TAG = "check-my-work"

_POINTS_RE = re.compile(r"^#\s*points\s*:\s*(\d+(?:\.\d+)?)\s*$", re.IGNORECASE)
_NAME_RE = re.compile(r"^#\s*test\s*:\s*(\S.*?)\s*$", re.IGNORECASE)


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


class GradeInputError(ValueError):
    """Bad input to the grader: a folder or notebook that cannot be graded as given."""


def cell_tags(cell: Any) -> list[str]:
    """The string tags of a cell (``metadata.tags``); malformed metadata counts as no tags.

    Parameters
    ----------
    cell : dict-like
        A notebook cell, possibly from an untrusted submission.

    Returns
    -------
    list of str
    """
    tags = cell.get("metadata", {}).get("tags", [])
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def cell_source(cell: Any) -> str:
    """The source of a cell as one string, whether stored as a string or a list of lines.

    Parameters
    ----------
    cell : dict-like
        A notebook cell.

    Returns
    -------
    str
    """
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
    list of ~zablib.grade.notebook.TestCell
        The code cells tagged ``tests`` (not ``check-my-work``), with their points and names.
        Points come from cell
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
        if TESTS_TAG not in cell_tags(cell) or CHECK_TAG in cell_tags(cell):
            continue
        cell_id = cell.get("id")
        if not cell_id:
            raise GradeInputError(
                f"test cell {index} has no cell id; save the notebook as nbformat 4.5 "
                "(nbformat >= 5.1 adds ids)"
            )
        points: int | float = 1
        name = str(cell_id)
        for line in _leading_comments(cell_source(cell)):
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


def test_sources(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """The ids and sources of a notebook's test cells, to compare two copies of an exercise.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        Any notebook.

    Returns
    -------
    list of (str, str)
        ``(id, source)`` of each cell tagged ``tests``, in notebook order.
    """
    return [(c.get("id", ""), cell_source(c)) for c in nb.cells if TESTS_TAG in cell_tags(c)]


def _is_solution(cell: Any) -> bool:
    return cell.get("cell_type") == "code" and SOLUTION_TAG in cell_tags(cell)


def solution_sources(
    pristine_nb: nbformat.NotebookNode, submission_nb: nbformat.NotebookNode
) -> list[str | None]:
    """The student's source for each ``solution`` cell of the pristine notebook.

    Parameters
    ----------
    pristine_nb : nbformat.NotebookNode
        The instructor's exercise notebook.
    submission_nb : nbformat.NotebookNode
        The student's copy.

    Returns
    -------
    list of (str or None)
        One entry per pristine solution cell, in order: the source of the student's code cell
        with the same id (even if the student dropped its tag); the pristine solution cells left
        over take the student's unused ``solution``-tagged cells in order; None where nothing is
        left.
    """
    sub_code = [c for c in submission_nb.get("cells", []) if c.get("cell_type") == "code"]
    by_id = {c["id"]: c for c in sub_code if c.get("id")}
    targets = [c for c in pristine_nb.cells if _is_solution(c)]
    chosen: dict[int, Any] = {}
    used: set[int] = set()
    for k, cell in enumerate(targets):
        match = by_id.get(cell.get("id"))
        if match is not None and id(match) not in used:
            chosen[k] = match
            used.add(id(match))
    spare = iter(c for c in sub_code if SOLUTION_TAG in cell_tags(c) and id(c) not in used)
    for k in range(len(targets)):
        if k not in chosen:
            match = next(spare, None)
            if match is None:
                break
            chosen[k] = match
    return [cell_source(chosen[k]) if k in chosen else None for k in range(len(targets))]


def splice(
    pristine_nb: nbformat.NotebookNode, submission_nb: nbformat.NotebookNode
) -> nbformat.NotebookNode:
    """The pristine notebook with the student's solution sources (what a student's run looks like).

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
        cleared), matched as :func:`solution_sources` says; a solution cell with no match keeps
        the pristine stub. Everything else (test and setup cells, metadata, outputs) is pristine.
        The grader does not run this notebook: it runs :func:`~zablib.grade.plan.trusted_notebook`.
    """
    result = copy.deepcopy(pristine_nb)
    targets = [c for c in result.cells if _is_solution(c)]
    for cell, source in zip(targets, solution_sources(pristine_nb, submission_nb), strict=True):
        if source is not None:
            cell.source = source
            cell.outputs = []
            cell.execution_count = None
    return result


def _checks_output(cell: Any) -> bool:
    tags = cell_tags(cell)
    if "nbval-ignore-output" in tags:
        return False
    marks = {line.lstrip("#").strip() for line in _leading_comments(cell_source(cell))}
    return "nbval-check-output" in tags or "NBVAL_CHECK_OUTPUT" in marks


def for_nbval(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop the outputs ``nbval --nbval-lax`` does not compare (it refuses unrun cells with any).

    Parameters
    ----------
    nb : nbformat.NotebookNode
        A spliced notebook; changed in place.

    Returns
    -------
    nbformat.NotebookNode
        `nb`, whose code cells keep outputs and execution counts only if they ask nbval to
        check them (tag ``nbval-check-output`` or a ``# NBVAL_CHECK_OUTPUT`` comment).
    """
    for cell in nb.cells:
        if cell.get("cell_type") == "code" and not _checks_output(cell):
            cell.outputs = []
            cell.execution_count = None
    return nb


def read_pristine(path: Path) -> nbformat.NotebookNode:
    """Read an instructor's exercise notebook, refusing what cannot be graded reproducibly.

    Parameters
    ----------
    path : Path
        A pristine ``.ipynb`` file.

    Returns
    -------
    nbformat.NotebookNode
        The notebook, upgraded to nbformat 4.

    Raises
    ------
    GradeInputError
        If the file is unreadable or not a notebook, or a test cell has no id (nbformat would
        invent a random one, so gradebook names would change between runs).
    """
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4)
    except (OSError, ValueError, nbformat.reader.NotJSONError) as exc:
        raise GradeInputError(f"pristine notebook {path} cannot be read: {exc}") from exc
    for index, cell in enumerate(raw.get("cells", [])):
        if TESTS_TAG in cell_tags(cell) and not cell.get("id"):
            raise GradeInputError(
                f"pristine notebook {path}: test cell {index} has no cell id; save it as "
                "nbformat 4.5 (nbformat >= 5.1 adds ids)"
            )
    return nb


def read_submission(path: Path, inside: Path | None = None) -> nbformat.NotebookNode | None:
    """Read a student's notebook, whatever the file turns out to be.

    Parameters
    ----------
    path : Path
        The submitted ``.ipynb`` file.
    inside : Path, optional
        The student's folder; a file that resolves outside it (a symbolic link to the
        solution, say) is refused.

    Returns
    -------
    nbformat.NotebookNode or None
        The notebook, or None if it is not a readable notebook or links outside `inside`.
        Never raises: anything a student's file does is "invalid".
    """
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
