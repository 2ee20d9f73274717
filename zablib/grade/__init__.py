"""Grade a class's exercise notebooks with nbval and write a gradebook (CSV).

Usage::

    python -m zablib.grade --pristine DIR --submissions DIR --out grades.csv [-n 2] [--timeout 30]
    python -m zablib.grade release SOURCE OUT
    python -m zablib.grade --check-solutions exercises [--solutions DIR] [--wrong DIR]

``--submissions`` holds one folder per student (``DIR/<student>/NN_topic.ipynb``). The gradebook
has one row per student, notebook and test cell, with the columns ``student,notebook,test,points,
max_points,status``. A per-student summary is printed at the end, and a progress bar is shown on
stderr. ``release`` writes the student version of an instructor's source (see
:mod:`zablib.grade.release`): solutions stripped, cells tagged ``hidden`` removed.

Installing
----------
The grader needs nbformat, nbval 0.11, pytest and (for ``-n`` > 1) pytest-xdist, which the
chapters do not: they are zablib's ``grade`` extra (``pip install -e '.[grade]'``).
``requirements.txt`` installs them, so the book's virtual environment and Binder can grade.
Without them, ``import zablib.grade`` raises an :class:`ImportError` naming the extra. Grading
students' code needs Linux and bubblewrap (``apt-get install bubblewrap``); without it the grader
refuses, unless told ``--no-sandbox``.

How a notebook is graded
------------------------
Students' code never runs where the checks run. For each student's copy of an exercise the grader
plans two things (:func:`~zablib.grade.plan.trusted_notebook`):

* a **trusted notebook**, run with ``pytest --nbval-lax`` (nbval 0.11) and a per-cell timeout in
  a kernel no student code reaches: the pristine notebook (setup cells, test cells, hidden tests,
  their metadata and outputs), whose first cell starts the notebook's worker and whose
  ``solution`` cells are replaced by calls that bind, for each name the pristine *stub* defines,
  a proxy of the student's function (:mod:`zablib.grade.bridge`);
* a **worker** in a throw-away sandbox (:mod:`zablib.grade.sandbox`, :mod:`zablib.grade.worker`):
  its own PID namespace, no network, an empty private ``/tmp``, Python and zablib read-only and
  nothing else of the disk, limits on CPU, memory, processes and file size, everything killed at
  the end. It runs the pristine setup cells and the student's solution cells (matched by cell id,
  then by order, :func:`~zablib.grade.notebook.solution_sources`) in notebook order.

A test cell calls the proxies; the worker answers with plain data only (None, bools, numbers,
strings, and lists, tuples, dicts and sets of them, size-limited), and the student's exceptions
come back as their built-in kind (``ValueError`` ...). A deleted or edited test cell, faked
outputs, an input transformer, a trace function, a patched module, an object whose ``__eq__``
always says yes: all of it stays in the worker, where nothing is checked. A test cell (code cell
tagged ``tests``) scores its points if it passes, else 0. The cell results travel from the pytest
process to the grader through a pipe, are validated, and the CSV is written by the grader alone,
atomically.

nbval numbers the items of a notebook ``<path>::Cell N`` where N counts **code cells only**,
from 0 (markdown and raw cells are skipped). :class:`~zablib.grade.notebook.TestCell` keeps
that number (``code_index``) in the pristine notebook; the trusted notebook has one more code
cell first, and the grader maps its numbers back by cell id.

Statuses
--------
``passed``, ``failed``, ``timeout`` (the cell hit the per-cell timeout), ``missing`` (no such
notebook in the student's folder), ``invalid-notebook`` (not JSON, not a notebook, a link out of
the student's folder, or a student folder that is a link) and ``error`` (the grading machinery
failed for that cell, e.g. the pytest process died; not the student's answer being wrong). Only
``passed`` scores points.

Hard cases, and what happens (each costs only that student's points)
--------------------------------------------------------------------
* ``sys.exit()`` in a solution cell or function: an error in that cell or call; the worker lives
  on and later cells are graded normally.
* ``os._exit(1)``, a crash, a resource limit: the worker dies; its cell fails and so does every
  later call into it.
* An endless loop in a function: the test cell hits ``--timeout`` (status ``timeout``); nbval
  interrupts the trusted kernel, which interrupts the worker, and later cells still run. A worker
  that does not stop within 2 s of the interrupt is killed, and later calls fail.
* Huge output goes nowhere (the worker's streams are ``/dev/null``); at most 1 MB crosses per
  answer. Printed output of the trusted kernel is capped at 8 MB per cell.
* Notebooks run in batches of ``8 * workers`` per pytest run. If a run dies, or stalls with no
  result for ``timeout`` + 120 s, it is killed and nobody else is lost: with one worker, the
  notebook that was running when it died keeps ``error`` on its unfinished cells and the
  notebooks not yet started are run again; with several workers, each unfinished notebook is run
  again alone, and cells that still get no result are ``error``.
* Two checks of the trusted kernel stay as a second line of defence: a test cell whose error was
  hidden (the kernel's own ``execute_reply`` status is read) or that did not run to its last line
  (a random token assigned there is read back) fails.

Limits
------
* A function's arguments are copied into the worker and its answer copied back: a student's
  function that changes its arguments in place changes only its copy (write functions that
  return their answer). Arguments must be plain data, named tuples, dataclasses or read-only
  mappings of them (what the exercises pass).
* The worker runs the pristine setup cells up to the last solution cell, so a solution may use
  what those define; cells after it are not run there.
* Each call is a round trip between two processes (about 0.04 ms on a quiet machine, a few times
  that on a busy one; the exercises' cluster trials make up to ~11 000 calls).
* Sandboxes share the CPU: with several workers, a submission that keeps many processes busy
  (at most 32 when the grader runs as root) slows the notebook graded beside it until its own
  notebook ends. Keep timeouts generous, or grade with one worker.
* With ``--no-sandbox`` the worker is a plain process with your rights: the checks are still out
  of its reach, but your files and processes are not.
* A test cell that starts with a cell magic gets the token line inside its body; do not use
  cell magics (``%%bash``) in test cells.
* Only top-level non-notebook files of the pristine folder are copied next to the trusted
  notebooks (helpers such as ``_checks.py``), and shown read-only to the workers; sub-folders
  are not.
* Outputs of the trusted notebook are cleared except in cells that ask nbval to check them
  (``nbval-check-output``), so a pristine notebook saved with outputs but no execution counts
  does not trip nbval's "Unrun reference cell has outputs".
* ``error`` is also what an innocent notebook gets if the pytest run it was in dies for a reason
  of its own (out of memory) while that notebook was running with one worker: re-grade those.

Package layout
--------------
Each module has one job and imports only those above it in this list:

* :mod:`zablib.grade.worker` -- the sandboxed side: runs cells and calls, answers with plain
  data (standard library only; run by path inside the sandbox);
* :mod:`zablib.grade.sandbox` -- how a worker is started: bubblewrap's namespaces, binds, limits;
* :mod:`zablib.grade.notebook` -- one notebook: its test cells and points, reading pristine and
  submitted copies, matching the student's solution cells;
* :mod:`zablib.grade.release` -- stubs of solutions, the student version of a source, hidden
  cells;
* :mod:`zablib.grade.plan` -- the trusted notebook and the worker's plan of one submission;
* :mod:`zablib.grade.bridge` -- inside the trusted kernel: starts the worker, binds the proxies;
* :mod:`zablib.grade.folders` -- the pristine exercises, the students, each student's notebook;
* :mod:`zablib.grade.gradebook` -- :class:`~zablib.grade.gradebook.Row`, the CSV and the summary;
* :mod:`zablib.grade.nbval_patch` and :mod:`zablib.grade.plugin` -- what runs *inside* a grading
  pytest process: the repairs to nbval's kernel handling and the plugin that records each cell;
* :mod:`zablib.grade.runner` -- the pytest subprocesses: batches, deadlines, killing, re-runs;
* :mod:`zablib.grade.grader` -- :func:`~zablib.grade.grader.grade`: folders in, rows out;
* :mod:`zablib.grade.check` -- :func:`~zablib.grade.check.check_exercises`, CI's proof that
  solutions pass and stubs fail;
* :mod:`zablib.grade.mywork` -- :func:`~zablib.grade.mywork.check_my_work`, the student's own
  run of an exercise's checks (the last cell of every exercise, tagged ``check-my-work``, which
  the grader skips);
* :mod:`zablib.grade.cli` -- the command line (``__main__`` calls it).

This package re-exports the public names, so ``from zablib.grade import grade, splice`` works.
"""

# The dependency check must run before anything it guards is imported.

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

#: the ``grade`` extra: what the grader imports beyond zablib's own dependencies
EXTRA = ("nbformat", "nbval", "pytest")

_missing = [name for name in EXTRA if importlib.util.find_spec(name) is None]
if _missing:
    raise ImportError(
        f"zablib.grade needs the optional dependencies of the 'grade' extra; {', '.join(_missing)} "
        "not installed. Install them with: pip install 'zablib[grade]' (or pip install -r "
        "requirements.txt in the book's repository)"
    )

# The public names, and the module each comes from. They are imported when first used: every
# trusted kernel imports zablib.grade.bridge, which must not pay for pytest and nbformat.
_EXPORTS = {
    "CSV_COLUMNS": "gradebook",
    "STATUSES": "gradebook",
    "GradeInputError": "notebook",
    "Row": "gradebook",
    "TestCell": "notebook",
    "check_exercises": "check",
    "check_my_work": "mywork",
    "grade": "grader",
    "main": "cli",
    "release_exercises": "release",
    "release_notebook": "release",
    "splice": "notebook",
    "summarize": "gradebook",
    "test_cells": "notebook",
    "write_csv": "gradebook",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'zablib.grade' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"zablib.grade.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
