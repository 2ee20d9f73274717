"""A student's "check my work" cell, told on the book's own exercises.

Every exercise ends with a cell tagged ``check-my-work`` that calls
``zablib.grade.check_my_work("NN_name")``: it runs the released notebook's setup and test cells,
in order, on the functions of the student's notebook and prints a table of checks, points and
what failed. The reference solutions must print full marks, the untouched stubs zero with every
check named, and a wrong answer must name the check it fails and why, in words. The grader never
runs the cell (tests/test_grade.py puts one that kills its kernel in a graded class).

The solutions' and stubs' cells run here, in this process (a few seconds in all); one notebook
runs in a real kernel to show the cell works where students use it.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from zablib import grade as G
from zablib.grade import check_my_work
from zablib.grade.notebook import CHECK_TAG, cell_source, cell_tags
from zablib.grade.plan import trusted_notebook

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"
NAMES = sorted(p.stem for p in EXERCISES.glob("*.ipynb"))
CONTRACT = (
    "# check my work: runs the tests cells above the way the grader does, and says what failed\n"
    "from zablib.grade import check_my_work\n"
    'check_my_work("{name}")'
)


def student_namespace(notebook: Path, *, solutions_only: bool = False) -> dict:
    """What a student's kernel holds after running the notebook's cells (tests and the check cell
    left out; a cell that raises, as a stub does, is passed over as Run All would not be)."""
    namespace: dict = {"__name__": "__main__"}
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        tags = cell_tags(cell)
        if cell.cell_type != "code" or "tests" in tags or CHECK_TAG in tags:
            continue
        if solutions_only and "solution" not in tags:
            continue
        with contextlib.suppress(Exception), contextlib.redirect_stdout(io.StringIO()):
            exec(compile(cell_source(cell), str(notebook), "exec"), namespace)
    return namespace


def checked(name: str, namespace: dict, **kwargs) -> tuple:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        work = check_my_work(name, namespace=namespace, **kwargs)
    return work, out.getvalue()


def test_every_exercise_and_its_solution_ends_with_the_check_my_work_cell():
    assert NAMES, "no exercises found"
    for path in [*sorted(EXERCISES.glob("*.ipynb")), *sorted((EXERCISES / "solutions").glob("*.ipynb"))]:
        last = nbformat.read(path, as_version=4).cells[-1]
        assert last.cell_type == "code" and CHECK_TAG in cell_tags(last), f"{path.name}: last cell"
        assert last.source == CONTRACT.format(name=path.stem), f"{path}: the cell's source"


@pytest.mark.parametrize("name", NAMES)
def test_the_reference_solution_prints_full_marks(name):
    solution = EXERCISES / "solutions" / f"{name}.ipynb"
    work, table = checked(name, student_namespace(solution))
    checks = G.test_cells(nbformat.read(EXERCISES / f"{name}.ipynb", as_version=4))
    assert [c.name for c in work.checks] == [c.name for c in checks]
    assert work.failed == [] and work.points == work.total == sum(c.points for c in checks) > 0, table
    assert table.rstrip().endswith(f"{work.total:g} of {work.total:g} points")


def test_the_stubs_print_zero_and_name_every_failing_check():
    for name in NAMES:
        work, table = checked(name, student_namespace(EXERCISES / f"{name}.ipynb"))
        assert work.points == 0 and work.total > 0, table
        for check in work.checks:
            assert not check.passed and check.failure, f"{name}: {check}"
            row = next(line for line in table.splitlines() if f" {check.name} " in line)
            assert "FAILED" in row and check.failure in row
            assert "Traceback" not in row and "\n" not in check.failure
        assert f"0 of {work.total:g} points; failed: " in table


def test_a_wrong_answer_is_named_with_what_failed_in_words():
    namespace = student_namespace(EXERCISES / "solutions" / "01_replication.ipynb")
    namespace["majority"] = lambda n: (n + 1) // 2  # off by one for even n
    work, table = checked("01_replication", namespace)
    assert work.failed == ["test-majority-values", "test-majority-overlap"]
    assert (work.points, work.total) == (5, 7)
    row = {c.name: c for c in work.checks}
    # the assertion's own message...
    assert row["test-majority-values"].failure == (
        "majority(n) for n = 1..7 is [1, 1, 2, 2, 3, 3, 4], expected [1, 2, 2, 3, 3, 4, 4]"
    )
    # ...or, where it has none, the assertion that was false
    assert row["test-majority-overlap"].failure.startswith("this was false: assert all(")
    assert "5 of 7 points; failed: test-majority-values, test-majority-overlap" in table


def test_an_exception_and_a_solution_not_yet_run_are_said_in_one_line():
    namespace = student_namespace(EXERCISES / "solutions" / "01_replication.ipynb")
    namespace["acknowledged_but_lost"] = lambda acknowledged, new_log: new_log[5]
    del namespace["crash_time"]
    work = checked("01_replication", namespace)[0]
    row = {c.name: c.failure for c in work.checks}
    assert row["test-lost-lists"] == (
        "IndexError: list index out of range in <lambda>(), at: "
        'assert acknowledged_but_lost(["a", "b", "c"], ["a", "b", "c", "d"]) == []'
    )
    assert row["test-crash-async"] == "name 'crash_time' is not defined: run your solution cell first"
    assert work.points == 2  # the two majority checks


def test_only_the_solution_cells_count_not_the_students_other_cells():
    # A student who ran only the solution cells (not the setup cells, not `replay`), and one who
    # redefined a setup name, are checked alike: the released setup cells run for the checks.
    only = student_namespace(EXERCISES / "solutions" / "01_replication.ipynb", solutions_only=True)
    assert "replay" not in only and "primary_backup" not in only
    assert checked("01_replication", only)[0].failed == []
    everything = student_namespace(EXERCISES / "solutions" / "01_replication.ipynb")
    everything["replay"] = lambda mode, crash_at: None
    before = dict(everything)
    assert checked("01_replication", everything)[0].failed == []
    assert everything == before  # the student's namespace is left as it was


def test_test_cells_edited_in_place_are_read_from_git(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    folder = tmp_path / "exercises"
    folder.mkdir()
    shutil.copy(EXERCISES / "01_replication.ipynb", folder)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "release"], check=True)
    stub = student_namespace(folder / "01_replication.ipynb")
    nb = json.loads((folder / "01_replication.ipynb").read_text())
    for cell in nb["cells"]:
        if "tests" in cell["metadata"].get("tags", []):
            cell["source"] = "assert True"  # "my tests pass now"
    (folder / "01_replication.ipynb").write_text(json.dumps(nb))
    work, table = checked("01_replication", stub, exercises=folder)
    assert work.points == 0 and "from git: the file's test cells were edited" in table
    shutil.rmtree(tmp_path / ".git")  # no repository: the file is all there is
    assert checked("01_replication", stub, exercises=folder)[0].failed == []


def test_without_the_books_folder_the_notebooks_own_folder_is_read(tmp_path, monkeypatch):
    shutil.copy(EXERCISES / "01_replication.ipynb", tmp_path / "98_elsewhere.ipynb")
    (tmp_path / "solutions").mkdir()
    monkeypatch.chdir(tmp_path / "solutions")  # a solution notebook's kernel runs here
    namespace = student_namespace(EXERCISES / "solutions" / "01_replication.ipynb")
    work, table = checked("98_elsewhere", namespace)
    assert work.failed == [] and work.total == 7 and "98_elsewhere.ipynb" in table


def test_a_name_that_is_not_an_exercise_is_refused():
    for bad in ("01_replication.ipynb", "replication", "../01_replication", "99_nothing"):
        with pytest.raises(ValueError, match="01_replication|no exercise"):
            check_my_work(bad, namespace={})


def test_the_grader_plans_without_the_check_my_work_cell():
    pristine = nbformat.read(EXERCISES / "01_replication.ipynb", as_version=4)
    plan = trusted_notebook(pristine, pristine)
    assert all(CHECK_TAG not in cell_tags(c) for c in plan.nb.cells)
    assert all("check_my_work" not in c["source"] for c in plan.plan["cells"])
    tagged_both = nbformat.v4.new_code_cell("assert False", id="x")
    tagged_both.metadata["tags"] = ["tests", CHECK_TAG]
    pristine.cells.append(tagged_both)
    assert "x" not in [c.id for c in G.test_cells(pristine)]


def test_in_a_real_kernel_the_last_cell_prints_the_table():
    nb = nbformat.read(EXERCISES / "solutions" / "01_replication.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(EXERCISES / "solutions")}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    assert "Checks of 01_replication" in printed and printed.rstrip().endswith("7 of 7 points")
    assert "test-crash-async" in printed
