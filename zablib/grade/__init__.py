"""Grade a class's exercise notebooks with nbval and write a gradebook (CSV).

Usage::

    python -m zablib.grade --pristine exercises --submissions DIR --out grades.csv [-n 2] [--timeout 30]
    python -m zablib.grade --check-solutions exercises [--solutions DIR] [--wrong DIR]

``DIR`` holds one folder per student (``DIR/<student>/NN_topic.ipynb``). The gradebook has one row
per student, notebook and test cell, with the columns ``student,notebook,test,points,max_points,
status``. A per-student summary is printed at the end, and a progress bar is shown on stderr.

Installing
----------
The grader needs nbformat, nbval 0.11, pytest and (for ``-n`` > 1) pytest-xdist, which the
chapters do not: they are zablib's ``grade`` extra (``pip install -e '.[grade]'``).
``requirements.txt`` installs them, so the book's virtual environment and Binder can grade.
Without them, ``import zablib.grade`` raises an :class:`ImportError` naming the extra.

How a notebook is graded
------------------------
The student's copy is never trusted beyond its ``solution`` cells. For each pristine exercise
``exercises/NN_topic.ipynb`` the grader takes the pristine notebook, splices in the *source* of
the student's ``solution`` cells (matched by cell id, then by order, see
:func:`~zablib.grade.notebook.splice`) and runs the result with ``pytest --nbval-lax`` (nbval
0.11) in a fresh kernel, with a per-cell timeout.
Test cells, setup cells, their metadata and their outputs all come from the pristine copy, so a
deleted test cell, a test cell edited to ``assert True`` or a test cell with faked outputs changes
nothing. A test cell (code cell tagged ``tests``) scores its points if it passes, else 0.

nbval numbers the items of a notebook ``<path>::Cell N`` where N counts **code cells only**,
from 0 (markdown and raw cells are skipped). :class:`~zablib.grade.notebook.TestCell` keeps
that number (``code_index``) to map results back.

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

Package layout
--------------
Each module has one job and imports only those above it in this list:

* :mod:`zablib.grade.notebook` -- one notebook: its test cells and points, reading pristine and
  submitted copies, splicing the solution cells in;
* :mod:`zablib.grade.folders` -- the pristine exercises, the students, each student's notebook;
* :mod:`zablib.grade.gradebook` -- :class:`~zablib.grade.gradebook.Row`, the CSV and the summary;
* :mod:`zablib.grade.nbval_patch` and :mod:`zablib.grade.plugin` -- what runs *inside* a grading
  pytest process: the repairs to nbval's kernel handling and the plugin that records each cell;
* :mod:`zablib.grade.runner` -- the pytest subprocesses: batches, deadlines, killing, re-runs (a
  sandbox, issue #12, plugs in here);
* :mod:`zablib.grade.grader` -- :func:`~zablib.grade.grader.grade`: folders in, rows out;
* :mod:`zablib.grade.check` -- :func:`~zablib.grade.check.check_exercises`, CI's proof that
  solutions pass and stubs fail;
* :mod:`zablib.grade.cli` -- the command line (``__main__`` calls it).

This package re-exports the public names, so ``from zablib.grade import grade, splice`` works.
"""

# The dependency check must run before the imports it guards.
# ruff: noqa: E402

from __future__ import annotations

import importlib.util

#: the ``grade`` extra: what the grader imports beyond zablib's own dependencies
EXTRA = ("nbformat", "nbval", "pytest")

_missing = [name for name in EXTRA if importlib.util.find_spec(name) is None]
if _missing:
    raise ImportError(
        f"zablib.grade needs the optional dependencies of the 'grade' extra; {', '.join(_missing)} "
        "not installed. Install them with: pip install 'zablib[grade]' (or pip install -r "
        "requirements.txt in the book's repository)"
    )

from zablib.grade.check import check_exercises
from zablib.grade.cli import main
from zablib.grade.gradebook import CSV_COLUMNS, STATUSES, Row, summarize, write_csv
from zablib.grade.grader import grade
from zablib.grade.notebook import GradeInputError, TestCell, splice, test_cells

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
