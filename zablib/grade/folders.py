"""Where the grader finds things: the pristine exercises, the students, each student's notebook."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

from zablib.grade.notebook import TESTS_TAG, GradeInputError, TestCell, read_pristine, test_cells

__all__ = [
    "Exercise",
    "Roster",
    "display_name",
    "find_students",
    "find_submission",
    "helper_files",
    "load_exercises",
]


@dataclass
class Exercise:
    """A pristine exercise notebook and its graded cells.

    Attributes
    ----------
    name : str
        File name, e.g. ``01_replication.ipynb``; students' copies go by the same name.
    nb : nbformat.NotebookNode
        The pristine notebook.
    tests : list of ~zablib.grade.notebook.TestCell
        Its graded cells, in notebook order (never empty).
    """

    name: str
    nb: nbformat.NotebookNode
    tests: list[TestCell]


def load_exercises(pristine_dir: Path) -> list[Exercise]:
    """Read every exercise notebook at the top level of a folder, sorted by name.

    Parameters
    ----------
    pristine_dir : Path
        The exercise folder; ``solutions/`` and other sub-folders are ignored.

    Returns
    -------
    list of ~zablib.grade.folders.Exercise

    Raises
    ------
    GradeInputError
        If the folder is missing or holds no notebook, or a notebook is unreadable, has a
        malformed test cell or none at all.
    """
    if not pristine_dir.is_dir():
        raise GradeInputError(f"--pristine {pristine_dir}: no such directory")
    paths = sorted(p for p in pristine_dir.glob("*.ipynb") if p.is_file())
    if not paths:
        raise GradeInputError(f"--pristine {pristine_dir}: no exercise notebooks (*.ipynb) in it")
    exercises = []
    for path in paths:
        nb = read_pristine(path)
        try:
            tests = test_cells(nb)
        except GradeInputError as exc:
            raise GradeInputError(f"pristine notebook {path}: {exc}") from exc
        if not tests:
            raise GradeInputError(
                f"pristine notebook {path} has no cells tagged {TESTS_TAG!r}: nothing to grade"
            )
        exercises.append(Exercise(path.name, nb, tests))
    return exercises


def helper_files(pristine_dir: Path) -> list[Path]:
    """The files copied next to every spliced notebook (``_checks.py`` and the like).

    Parameters
    ----------
    pristine_dir : Path
        The exercise folder.

    Returns
    -------
    list of Path
        Its top-level files that are not notebooks and not hidden, sorted; sub-folders are not
        copied.
    """
    return [
        p
        for p in sorted(pristine_dir.iterdir())
        if p.is_file() and p.suffix != ".ipynb" and not p.name.startswith(".")
    ]


@dataclass
class Roster:
    """Who is in a submissions folder, and what was left out.

    Attributes
    ----------
    students : list of str
        Every student folder's name, sorted (refused ones included: they get rows).
    refused : dict of str to str
        Student -> why none of their notebooks is read (a folder that is a symbolic link: it
        could be a classmate's).
    skipped : list of str
        Entries that are not students, each with the reason (hidden, not a folder).
    """

    students: list[str]
    refused: dict[str, str]
    skipped: list[str]


def find_students(submissions_dir: Path) -> Roster:
    """The students of a submissions folder: one per sub-folder that is not hidden.

    Parameters
    ----------
    submissions_dir : Path
        One folder per student.

    Returns
    -------
    Roster
        A folder that is a symbolic link is refused (its student is listed, every notebook
        ``invalid-notebook``); hidden entries (``.name``) and files are skipped, and said so.

    Raises
    ------
    GradeInputError
        If the folder is missing or has no student folder.
    """
    if not submissions_dir.is_dir():
        raise GradeInputError(f"--submissions {submissions_dir}: no such directory")
    students, refused, skipped = [], {}, []
    for entry in sorted(submissions_dir.iterdir()):
        name = entry.name
        if name.startswith("."):
            skipped.append(f"{display_name(name)} (hidden)")
        elif entry.is_symlink():
            students.append(name)
            refused[name] = "the student folder is a symbolic link"
        elif entry.is_dir():
            students.append(name)
        else:
            skipped.append(f"{display_name(name)} (not a folder)")
    if not students:
        raise GradeInputError(
            f"--submissions {submissions_dir}: no student folders in it "
            "(expected one folder per student, each holding that student's notebooks)"
        )
    return Roster(students, refused, skipped)


def display_name(name: str) -> str:
    """A file name as printable text: bytes that are not UTF-8 shown as ``\\udcXX`` escapes.

    Parameters
    ----------
    name : str
        A name from the file system (undecodable bytes arrive as lone surrogates).

    Returns
    -------
    str
        Text that encodes as UTF-8.
    """
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def find_submission(student_dir: Path, name: str) -> Path | None:
    """A student's copy of one exercise.

    Parameters
    ----------
    student_dir : Path
        The student's folder.
    name : str
        The exercise's file name.

    Returns
    -------
    Path or None
        ``student_dir/name`` if it is a file, else the shallowest file of that name below
        (ignoring ``.ipynb_checkpoints``, ties broken by path), else None.
    """
    direct = student_dir / name
    if direct.is_file():
        return direct
    found = sorted(
        (p for p in student_dir.rglob(name) if p.is_file() and ".ipynb_checkpoints" not in p.parts),
        key=lambda p: (len(p.parts), str(p)),
    )
    return found[0] if found else None
