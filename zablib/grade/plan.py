"""What runs where when a notebook is graded: the trusted notebook, and the worker's plan.

For one student's copy of one exercise, :func:`trusted_notebook` makes

* the **trusted notebook**, run by nbval in a kernel no student code reaches: the pristine
  notebook (setup cells, test cells, hidden tests, their metadata), with a first cell that starts
  the sandboxed worker (:func:`zablib.grade.bridge.start`) and each ``solution`` cell replaced by
  ``solution(k, globals())``, which binds proxies for the names that cell's *stub* defines, and
  without the student's "check my work" cell (tagged ``check-my-work``);
* the worker's **plan**: the cells the worker runs in its own IPython shell, in notebook order up
  to the last solution cell: the pristine setup cells (not test cells, not cells tagged
  ``hidden``) and, for each solution cell, the student's source, or the stub of the pristine
  cell when the student has none (so that an instructor's source, reference solutions and all,
  can be the pristine notebook: its solutions never run).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import nbformat

from zablib.grade.notebook import (
    CHECK_TAG,
    SOLUTION_TAG,
    TESTS_TAG,
    cell_source,
    cell_tags,
    for_nbval,
    solution_sources,
)
from zablib.grade.release import HIDDEN_TAG, defined_names, stub_source

__all__ = ["PLAN_FILE", "START_CELL_ID", "TrustedNotebook", "trusted_notebook"]

#: the plan's file name, next to the trusted notebook
PLAN_FILE = "sandbox-plan.json"
#: id of the cell that starts the worker
START_CELL_ID = "zablib-grade-start"
_BRIDGE = "_zablib_grade_bridge"


@dataclass
class TrustedNotebook:
    """A notebook to grade: what nbval runs, what the worker runs, and where the tests are.

    Attributes
    ----------
    nb : nbformat.NotebookNode
        The trusted notebook.
    plan : dict
        For :func:`zablib.grade.bridge.start`: ``cells`` (``source``, and ``names`` for solution
        cells), ``solutions`` (index in ``cells`` of each solution cell), ``helpers`` and
        ``number``.
    code_index : dict of str to int
        Test cell id -> its nbval number (code cells of `nb`, from 0).
    code_cells : int
        Code cells of `nb`.
    """

    nb: nbformat.NotebookNode
    plan: dict
    code_index: dict[str, int]
    code_cells: int


def trusted_notebook(
    pristine_nb: nbformat.NotebookNode,
    submission_nb: nbformat.NotebookNode,
    *,
    number: int = 0,
    helpers: list[str] | None = None,
) -> TrustedNotebook:
    """Plan the grading of one submission.

    Parameters
    ----------
    pristine_nb : nbformat.NotebookNode
        The instructor's exercise (student version or source); not modified.
    submission_nb : nbformat.NotebookNode
        The student's copy; only its solution cells' sources are used (see
        :func:`~zablib.grade.notebook.solution_sources`).
    number : int, optional
        The notebook's number in the run (gives its worker a user id of its own).
    helpers : list of str, optional
        Files the worker may read in its folder (the pristine folder's helpers).

    Returns
    -------
    TrustedNotebook
    """
    student = solution_sources(pristine_nb, submission_nb)
    code = [c for c in pristine_nb.cells if c.get("cell_type") == "code"]
    solutions_at = [k for k, c in enumerate(code) if SOLUTION_TAG in cell_tags(c)]
    last = solutions_at[-1] if solutions_at else -1
    cells: list[dict] = []
    solutions: list[int] = []
    for cell in code[: last + 1]:
        tags = cell_tags(cell)
        if SOLUTION_TAG in tags:
            stub = stub_source(cell_source(cell))
            mine = student[len(solutions)]
            solutions.append(len(cells))
            cells.append({"source": stub if mine is None else mine, "names": defined_names(stub)})
        elif TESTS_TAG not in tags and HIDDEN_TAG not in tags and CHECK_TAG not in tags:
            cells.append({"source": cell_source(cell)})
    nb = copy.deepcopy(pristine_nb)
    # The student's "check my work" would run the checks again, in this kernel: not graded.
    nb.cells = [c for c in nb.cells if CHECK_TAG not in cell_tags(c)]
    k = 0
    for cell in nb.cells:
        if cell.get("cell_type") == "code" and SOLUTION_TAG in cell_tags(cell):
            cell.source = f"{_BRIDGE}.solution({k}, globals())"
            k += 1
    start = nbformat.v4.new_code_cell(
        f"import zablib.grade.bridge as {_BRIDGE}\n{_BRIDGE}.start({PLAN_FILE!r})", id=START_CELL_ID
    )
    nb.cells.insert(0, start)
    for_nbval(nb)
    trusted = [c for c in nb.cells if c.get("cell_type") == "code"]
    code_index = {c.get("id"): i for i, c in enumerate(trusted) if TESTS_TAG in cell_tags(c)}
    plan = {"cells": cells, "solutions": solutions, "helpers": list(helpers or []), "number": number}
    return TrustedNotebook(nb, plan, code_index, len(trusted))
