"""The instructor grader, zablib.grade, told as a class of students with a small quorum exercise.

The exercise is built here with nbformat: two solution cells (``majority(n)`` and
``max_failures(n)``) and three test cells worth 2 + 3 + 1 points. Kernels are slow to start, so
the students who try to break the grader all sit in ONE grading run (``graded`` below), and the
runs that must crash pytest share a second one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from zablib import grade as G
from zablib.grade import runner
from zablib.grade.notebook import cell_tags
from zablib.grade.sandbox import Sandbox, SandboxUnavailable, probe

TIMEOUT = 3  # seconds per cell: every honest cell here runs in milliseconds


def sandbox_here() -> bool:
    """Whether bubblewrap sandboxes work on this machine (scripts/test.sh installs bubblewrap)."""
    try:
        probe(Sandbox.create("bwrap", []))
    except SandboxUnavailable:
        return False
    return True


#: grade in sandboxes where they can be made (always under CI: there, a missing one fails)
SANDBOX = bool(os.environ.get("CI")) or sandbox_here()
SANDBOX_ARGS = [] if SANDBOX else ["--no-sandbox"]

MAJORITY_STUB = 'def majority(n):\n    """Smallest majority of n servers."""\n    raise NotImplementedError'
FAILURES_STUB = 'def max_failures(n):\n    """Crashes n servers survive."""\n    raise NotImplementedError'
MAJORITY = "def majority(n):\n    return n // 2 + 1"
FAILURES = "def max_failures(n):\n    return (n - 1) // 2"


def code_cell(source, cid, tags=(), **metadata):
    cell = new_code_cell(source, id=cid)
    if tags:
        cell.metadata["tags"] = list(tags)
    cell.metadata.update(metadata)
    return cell


def quorum_exercise(majority=MAJORITY_STUB, failures=FAILURES_STUB):
    """The pristine notebook (with stubs), or a filled-in copy of it."""
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("# Quorums\nA majority of n servers, and how many may crash.", id="intro"),
        code_cell("import math", "setup"),
        code_cell(majority, "sol-majority", ["solution"]),
        new_markdown_cell("## Checks", id="checks"),
        code_cell(
            "# points: 2\n# test: majority_small\nassert majority(3) == 2\nassert majority(4) == 3",
            "t-small",
            ["tests"],
        ),
        code_cell(  # metadata points win over the comment
            "# points: 1\n# test: majority_bound\nfor n in range(5, 40):\n"
            "    assert majority(n) > n / 2 >= majority(n) - 1",
            "t-bound",
            ["tests"],
            points=3,
        ),
        code_cell(failures, "sol-failures", ["solution"]),
        code_cell("assert max_failures(5) == 2 and max_failures(4) == 1", "t-failures", ["tests"]),
    ]
    return nb


TESTS = ["majority_small", "majority_bound", "t-failures"]  # names in the gradebook, in order


def write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def student(root, name, nb=None, *, filename="01_quorum.ipynb", text=None):
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    if text is not None:
        (folder / filename).write_text(text)
    elif nb is not None:
        write(nb, folder / filename)
    return folder


def by_student(rows):
    out = {}
    for row in rows:
        out.setdefault(row.student, []).append(row)
    return out


def statuses(rows):
    return [r.status for r in rows]


def score(rows):
    return sum(r.points for r in rows)


# --------------------------------------------------------------------------- no kernel needed


def test_nbval_numbers_code_cells_only_and_test_cells_keep_that_number():
    cells = G.test_cells(quorum_exercise())
    # code cells: setup 0, sol-majority 1, t-small 2, t-bound 3, sol-failures 4, t-failures 5
    assert [(c.id, c.code_index, c.index) for c in cells] == [
        ("t-small", 2, 4),
        ("t-bound", 3, 5),
        ("t-failures", 5, 7),
    ]


def test_points_come_from_metadata_then_first_comment_then_default_one():
    cells = G.test_cells(quorum_exercise())
    assert [c.points for c in cells] == [2, 3, 1]
    assert [c.name for c in cells] == TESTS  # `# test: name`, else the stable cell id


def test_two_test_cells_with_one_name_are_refused():
    nb = quorum_exercise()
    nb.cells[7].source = "# test: majority_small\n" + nb.cells[7].source
    with pytest.raises(G.GradeInputError, match="majority_small"):
        G.test_cells(nb)


def test_splice_takes_only_the_solution_sources_matched_by_id():
    pristine = quorum_exercise()
    sub = quorum_exercise(MAJORITY, FAILURES)
    sub.cells[4].source = "assert True"  # an edited test cell
    sub.cells[4].outputs = [nbformat.v4.new_output("stream", text="ok\n")]
    sub.cells.insert(0, code_cell("print('hi')", "extra", ["solution-draft"]))
    spliced = G.splice(pristine, sub)
    assert [c.id for c in spliced.cells] == [c.id for c in pristine.cells]
    assert spliced.cells[2].source == MAJORITY and spliced.cells[6].source == FAILURES
    assert spliced.cells[4] == pristine.cells[4]
    assert pristine.cells[2].source == MAJORITY_STUB  # the pristine notebook is untouched


def test_splice_falls_back_to_the_order_of_solution_cells_when_ids_differ():
    sub = quorum_exercise(MAJORITY, FAILURES)
    sub.cells[2].id, sub.cells[6].id = "copied-1", "copied-2"
    spliced = G.splice(quorum_exercise(), sub)
    assert (spliced.cells[2].source, spliced.cells[6].source) == (MAJORITY, FAILURES)


def test_splice_keeps_the_stub_when_the_student_deleted_the_solution_cell():
    sub = quorum_exercise(MAJORITY, FAILURES)
    del sub.cells[6]
    spliced = G.splice(quorum_exercise(), sub)
    assert (spliced.cells[2].source, spliced.cells[6].source) == (MAJORITY, FAILURES_STUB)


@pytest.fixture
def exercises(tmp_path):
    write(quorum_exercise(), tmp_path / "ex" / "01_quorum.ipynb")
    write(quorum_exercise(MAJORITY, FAILURES), tmp_path / "ex" / "solutions" / "01_quorum.ipynb")
    return tmp_path / "ex"


def _cli_error(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        G.main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


def test_bad_input_is_an_argparse_error_naming_the_problem(tmp_path, exercises, capsys):
    subs = tmp_path / "subs"
    argv = ["--pristine", str(exercises), "--submissions", str(subs), "--no-progress"]
    assert "no such directory" in _cli_error(capsys, argv)
    subs.mkdir()
    assert "no student folders" in _cli_error(capsys, argv)
    student(subs, "alice", quorum_exercise())
    empty = tmp_path / "empty"
    (empty / "solutions").mkdir(parents=True)
    err = _cli_error(capsys, ["--pristine", str(empty), "--submissions", str(subs)])
    assert "no exercise notebooks" in err
    nb = quorum_exercise()
    for cell in nb.cells:
        cell.metadata.pop("tags", None)
    write(nb, tmp_path / "untagged" / "01_quorum.ipynb")
    err = _cli_error(capsys, ["--pristine", str(tmp_path / "untagged"), "--submissions", str(subs)])
    assert "01_quorum.ipynb has no cells tagged 'tests'" in err
    err = _cli_error(capsys, argv + ["-n", "0"])
    assert "workers must be an integer >= 1" in err
    with pytest.raises(G.GradeInputError, match="timeout"):
        G.grade(exercises, subs, timeout=0)


def test_a_pristine_test_cell_without_an_id_is_refused(tmp_path, capsys):
    raw = json.loads(nbformat.writes(quorum_exercise()))
    del raw["cells"][4]["id"]  # nbformat would invent a random, unstable one
    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / "01_quorum.ipynb").write_text(json.dumps(raw))
    student(tmp_path / "subs", "alice", quorum_exercise())
    err = _cli_error(capsys, ["--pristine", str(tmp_path / "ex"), "--submissions", str(tmp_path / "subs")])
    assert "test cell 4 has no cell id" in err


def test_write_csv_has_exactly_the_gradebook_columns(tmp_path):
    rows = [G.Row("alice", "01_quorum.ipynb", "majority_small", 2, 2, "passed")]
    G.write_csv(rows, tmp_path / "g.csv")
    assert (tmp_path / "g.csv").read_text().splitlines() == [
        "student,notebook,test,points,max_points,status",
        "alice,01_quorum.ipynb,majority_small,2,2,passed",
    ]


def test_write_csv_defuses_formulas_keeps_odd_names_and_replaces_the_file_whole(tmp_path):
    out = tmp_path / "g.csv"
    out.write_text("the old gradebook\n")
    odd = "caf\udce9"  # a folder name that is not UTF-8 arrives with a lone surrogate
    rows = [G.Row(name, "01.ipynb", "t", 0, 1, "failed") for name in ("=SUM(A1)", "@x", "-1", odd)]
    G.write_csv(rows, out)
    assert [r[0] for r in csv.reader(out.open())][1:] == ["'=SUM(A1)", "'@x", "'-1", "caf\\udce9"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.csv"]  # no temporary file left


def test_a_cell_record_is_filed_only_if_every_field_is_what_the_plugin_writes():
    run = runner.NotebookRun(path="jobs/00001/a.ipynb", code_cells=3, label="x")
    by_path = {run.path: run}

    def record(**change):
        rec = {"nodeid": "jobs/00001/a.ipynb::Cell 1", "when": "call", "outcome": "passed",
               "timeout": False, "message": ""}  # fmt: skip
        rec.update(change)
        return json.dumps(rec).encode()

    assert runner.valid_record(record(), by_path)["index"] == 1
    bad = [
        b"not json", b"[1, 2]", record(nodeid="jobs/00002/a.ipynb::Cell 1"),
        record(nodeid="jobs/00001/a.ipynb::Cell 3"), record(nodeid="jobs/00001/a.ipynb::Cell -1"),
        record(nodeid="jobs/00001/a.ipynb::Bell 1"), record(when="teardown"),
        record(outcome="passed!"), record(message=["x"]), record(timeout="yes"),
    ]  # fmt: skip
    assert [runner.valid_record(line, by_path) for line in bad] == [None] * len(bad)


def test_only_plain_data_crosses_from_the_worker():
    from zablib.grade.bridge import TrustedCodec
    from zablib.protocols.raft import Entry

    codec = TrustedCodec()
    log = (Entry(1, "a"), Entry(2, "b"))
    sent = json.loads(json.dumps(codec.encode([log])))
    assert sent[0]["t"][0]["c"] == ["zablib.protocols.raft", "Entry"] and "r" in sent[0]
    back = codec.decode(json.dumps([{"t": [{"ref": 0}, {"ref": sent[0]["t"][1]["r"]}]}]).encode())
    assert back == [(Entry(1, "a"), Entry(2, "b"))] and back[0][0] is log[0]  # the tests' own
    fields = [["term", 3], ["command", "c"], ["kind", "command"]]
    fresh = {"c": ["zablib.protocols.raft", "Entry"], "v": fields}
    assert codec.decode(json.dumps(fresh).encode()) == Entry(3, "c")
    assert codec.decode(b'{"n": ["__main__", "Vote"], "v": [1, 2]}') == (1, 2)  # unknown: a tuple
    refused = [
        b'{"c": ["os", "system"], "v": [["command", "true"]]}',  # not a type the tests passed
        b'{"c": ["zablib.protocols.raft", "Entry"], "v": [["term", 3]]}',  # fields missing
        b'{"__class__": "x"}', b'{"ref": 99}', b'{"s": [[1]]}', b'"\xff"', b"[" * 100_000,
        b'1' * 5000,  # an integer too long to read
    ]  # fmt: skip
    for payload in refused:
        with pytest.raises(ValueError, match="not plain data"):
            codec.decode(payload)


def test_without_bubblewrap_the_grader_refuses_unless_told_not_to_sandbox(
    tmp_path, exercises, capsys, monkeypatch
):
    subs = tmp_path / "subs"
    student(subs, "alice", quorum_exercise())
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    argv = ["--pristine", str(exercises), "--submissions", str(subs), "--no-progress"]
    err = _cli_error(capsys, argv)
    assert "cannot sandbox the students' code here: bubblewrap (bwrap) is not installed" in err
    assert "--no-sandbox" in err


# --------------------------------------------------------------------------- release


def test_the_books_student_copies_are_the_release_of_its_solutions():
    root = Path(__file__).resolve().parents[1] / "exercises"
    for pristine in sorted(root.glob("*.ipynb")):
        released = G.release_notebook(nbformat.read(root / "solutions" / pristine.name, as_version=4))
        want = nbformat.read(pristine, as_version=4)
        assert [(c.id, c.source, c.metadata) for c in released.cells] == [
            (c.id, c.source, c.metadata) for c in want.cells
        ], pristine.name


def test_release_strips_solutions_removes_hidden_cells_and_clears_outputs(tmp_path, capsys):
    source = quorum_exercise(
        MAJORITY + "\n\n\ndef helper(x):\n    # a hint\n    return x\n\nTABLE = [1, 2]",
        "def max_failures(n):\n    ### BEGIN SOLUTION\n    return (n - 1) // 2\n    ### END SOLUTION",
    )
    source.cells.append(code_cell("assert majority(101) == 51", "t-hidden", ["tests", "hidden"]))
    source.cells[2].outputs = [nbformat.v4.new_output("stream", text="secret\n")]
    write(source, tmp_path / "src" / "01_quorum.ipynb")
    (tmp_path / "src" / "_checks.py").write_text("X = 1\n")
    assert G.main(["release", str(tmp_path / "src"), str(tmp_path / "out")]) == 0
    assert "released" in capsys.readouterr().out
    student_nb = nbformat.read(tmp_path / "out" / "01_quorum.ipynb", as_version=4)
    assert [c.id for c in student_nb.cells] == [c.id for c in source.cells[:-1]]
    assert student_nb.cells[2].source == (
        "def majority(n):\n    raise NotImplementedError\n\n\n"
        "def helper(x):\n    raise NotImplementedError"
    )
    assert student_nb.cells[6].source == "def max_failures(n):\n    raise NotImplementedError"
    assert all(c.get("outputs", []) == [] for c in student_nb.cells)
    assert (tmp_path / "out" / "_checks.py").read_text() == "X = 1\n"


# --------------------------------------------------------------------------- the package itself


def _python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_python_m_zablib_grade_is_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "zablib.grade", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout.startswith("usage: python -m zablib.grade")
    assert "--pristine DIR" in done.stdout and "--check-solutions DIR" in done.stdout


def test_without_the_grade_extra_the_import_error_says_what_to_install():
    # sys.modules[name] = None is how Python spells "this module is not installed"
    done = _python("import sys; sys.modules['nbval'] = None; import zablib.grade")
    assert "ImportError: zablib.grade needs the optional dependencies of the 'grade' extra" in done.stderr
    assert "nbval not installed" in done.stderr and "pip install 'zablib[grade]'" in done.stderr


def test_the_grader_and_its_pytest_plugin_load_no_protocol_plot_or_widget():
    done = _python(
        "import sys, zablib.grade, zablib.grade.plugin\n"
        "zablib.grade.grade, zablib.grade.main\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('zablib', 'matplotlib', 'ipywidgets'))))"
    )
    loaded = done.stdout.split()
    assert "zablib.grade.plugin" in loaded and "zablib.grade.runner" in loaded
    banned = ("zablib.protocols", "zablib.viz", "zablib.widgets", "matplotlib", "ipywidgets")
    assert [m for m in loaded if m.startswith(banned)] == []


def test_the_trusted_kernels_door_loads_no_pytest_or_nbformat():
    # every graded notebook's kernel imports it: it must stay light (standard library only)
    done = _python("import sys, zablib.grade.bridge\nprint(' '.join(sorted(sys.modules)))")
    loaded = done.stdout.split()
    assert "zablib.grade.bridge" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("pytest", "nbformat", "nbval", "IPython")] == []


# --------------------------------------------------------------------------- one class, one run

LOOP_AT_3 = "def majority(n):\n    while n == 3:\n        pass\n    return n // 2 + 1"
DEAF_LOOP = (
    "def majority(n):\n    while True:  # swallows the interrupt and keeps printing\n"
    "        try:\n            print('still thinking')\n        except BaseException:\n"
    "            pass"
)
WRONG = "def majority(n):\n    return n // 2"


def tampered_tests():
    """A stub whose test cells say `assert True`, with faked passing outputs, one deleted."""
    nb = quorum_exercise()
    for cell in nb.cells:
        if "tests" in cell_tags(cell):
            cell.source = "assert True"
            cell.execution_count = 1
            cell.outputs = [nbformat.v4.new_output("stream", text="all tests passed\n")]
            cell.metadata["points"] = 100
    del nb.cells[7]
    return nb


CLASS = {  # student -> notebook (None: no file)
    "good": quorum_exercise(MAJORITY, FAILURES),
    "stub": quorum_exercise(),
    "partial": quorum_exercise(MAJORITY, "def max_failures(n):\n    return n // 2"),
    "sysexit": quorum_exercise("import sys\ndef majority(n):\n    sys.exit(1)", FAILURES),
    "osexit": quorum_exercise("import os\nos._exit(1)", FAILURES),
    "loop": quorum_exercise(LOOP_AT_3, FAILURES),
    "deaf-loop": quorum_exercise(DEAF_LOOP, FAILURES),
    "tampered-tests": tampered_tests(),
    "hides-errors": quorum_exercise(
        WRONG + "\nget_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)", FAILURES
    ),
    "empties-cells": quorum_exercise(
        WRONG + "\nget_ipython().input_transformers_cleanup.append(lambda lines: [])", FAILURES
    ),
    "patches-builtins": quorum_exercise(
        WRONG + "\nimport builtins\n"
        "builtins.AssertionError = type('AssertionError', (Exception,), {})\n"
        "builtins.all = builtins.any = lambda *a: True",
        FAILURES,
    ),
    "missing": None,
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the whole class once, through the command line, with two workers."""
    root = tmp_path_factory.mktemp("class")
    pristine = quorum_exercise()
    # saved with an output but no execution count: nbval alone fails such a cell for everyone
    pristine.cells[4].outputs = [nbformat.v4.new_output("stream", text="stale\n")]
    # A "check my work" cell is the student's, never the grader's: were it run (in the trusted
    # kernel, or in the worker, which runs the setup cells up to the last solution cell), every
    # later check would die with it and the honest students would lose their points.
    pristine.cells.insert(3, code_cell("import os\nos._exit(1)", "check-my-work", ["check-my-work"]))
    write(pristine, root / "exercises" / "01_quorum.ipynb")
    write(quorum_exercise(MAJORITY, FAILURES), root / "exercises" / "solutions" / "01_quorum.ipynb")
    (root / "exercises" / "notes.txt").write_text("helpers next to the exercises are copied\n")
    subs = root / "submissions"
    for name, nb in CLASS.items():
        student(subs, name, nb)
    student(subs, "not-json", text='{"cells": [ oops')
    student(subs, "not-a-notebook", text="[1, 2, 3]")
    renamed = quorum_exercise(MAJORITY, FAILURES)  # ids lost, notebook in a sub-folder
    renamed.cells[2].id, renamed.cells[6].id = "new-1", "new-2"
    write(renamed, subs / "renamed" / "work" / "01_quorum.ipynb")
    (subs / "links-the-solution").mkdir()
    (subs / "links-the-solution" / "01_quorum.ipynb").symlink_to(
        root / "exercises" / "solutions" / "01_quorum.ipynb"
    )
    (subs / "copycat").symlink_to(subs / "good")  # a folder that is a classmate's
    student(subs, FORMULA, quorum_exercise(MAJORITY, FAILURES))  # a name that is a formula
    student(subs, ".hidden", quorum_exercise(MAJORITY, FAILURES))
    (subs / "stray.txt").write_text("not a student\n")
    out = root / "grades.csv"
    stdout, stderr = io.StringIO(), io.StringIO()
    argv = [
        "--pristine", str(root / "exercises"), "--submissions", str(subs), "--out", str(out),
        "-n", "2", "--timeout", str(TIMEOUT), *SANDBOX_ARGS,
    ]  # fmt: skip
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        assert G.main(argv) == 0
    with open(out, newline="") as f:
        table = list(csv.DictReader(f))
    return {"csv": table, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}


FORMULA = "=1+2"  # a student folder named so; a spreadsheet would compute it


def rows_of(graded, name):
    return [r for r in graded["csv"] if r["student"] == name]


def test_gradebook_has_one_row_per_student_and_test_cell_in_order(graded):
    table = graded["csv"]
    assert list(table[0]) == ["student", "notebook", "test", "points", "max_points", "status"]
    others = ["not-json", "not-a-notebook", "renamed", "links-the-solution", "copycat", FORMULA]
    names = sorted([*CLASS, *others])
    in_csv = ["'" + FORMULA if name == FORMULA else name for name in names]
    assert [(r["student"], r["test"]) for r in table] == [(s, t) for s in in_csv for t in TESTS]
    assert {r["notebook"] for r in table} == {"01_quorum.ipynb"}
    assert {r["max_points"] for r in table} == {"2", "3", "1"}
    assert {r["status"] for r in table} <= set(G.STATUSES)


def outcome(graded, name):
    rows = rows_of(graded, name)
    return [r["status"] for r in rows], sum(int(r["points"]) for r in rows)


def test_the_solution_scores_full_marks_and_the_stub_zero(graded):
    assert outcome(graded, "good") == (["passed"] * 3, 6)
    assert outcome(graded, "stub") == (["failed"] * 3, 0)
    assert outcome(graded, "partial") == (["passed", "passed", "failed"], 5)


def test_solutions_are_found_by_order_when_ids_changed_and_in_sub_folders(graded):
    assert outcome(graded, "renamed") == (["passed"] * 3, 6)


def test_sys_exit_fails_that_cell_and_the_kernel_lives_on(graded):
    assert outcome(graded, "sysexit") == (["failed", "failed", "passed"], 1)


def test_a_dead_kernel_fails_every_later_cell(graded):
    assert outcome(graded, "osexit") == (["failed"] * 3, 0)


def test_an_endless_loop_times_out_and_later_cells_are_still_graded(graded):
    assert outcome(graded, "loop") == (["timeout", "passed", "passed"], 4)


def test_a_loop_that_ignores_interrupts_and_keeps_printing_does_not_hang_the_grader(graded):
    # nbval 0.11 alone waits for the kernel to go idle forever here
    assert outcome(graded, "deaf-loop") == (["timeout", "failed", "failed"], 0)


def test_edited_deleted_or_faked_test_cells_gain_nothing(graded):
    assert outcome(graded, "tampered-tests") == (["failed"] * 3, 0)
    assert {r["max_points"] for r in rows_of(graded, "tampered-tests")} == {"2", "3", "1"}


def test_hiding_errors_with_a_custom_exception_handler_is_caught(graded):
    assert outcome(graded, "hides-errors") == (["failed", "failed", "passed"], 1)


def test_emptying_later_cells_with_an_input_transformer_changes_no_check(graded):
    # the transformer lives in the student's sandbox: the checks run elsewhere, unchanged
    assert outcome(graded, "empties-cells") == (["failed", "failed", "passed"], 1)


def test_rebinding_assertion_error_or_builtins_does_not_silence_assert(graded):
    assert outcome(graded, "patches-builtins") == (["failed", "failed", "passed"], 1)


def test_missing_and_unreadable_notebooks_score_zero_with_their_status(graded):
    assert outcome(graded, "missing") == (["missing"] * 3, 0)
    assert outcome(graded, "not-json") == (["invalid-notebook"] * 3, 0)
    assert outcome(graded, "not-a-notebook") == (["invalid-notebook"] * 3, 0)
    assert outcome(graded, "links-the-solution") == (["invalid-notebook"] * 3, 0)


def test_a_student_folder_that_is_a_symlink_is_refused_and_what_is_skipped_is_said(graded):
    assert outcome(graded, "copycat") == (["invalid-notebook"] * 3, 0)
    assert "refused copycat: the student folder is a symbolic link" in graded["stderr"]
    assert "skipped .hidden (hidden)" in graded["stderr"]
    assert "skipped stray.txt (not a folder)" in graded["stderr"]
    assert not rows_of(graded, ".hidden")


def test_a_name_a_spreadsheet_would_take_for_a_formula_is_written_as_text(graded):
    assert outcome(graded, "'" + FORMULA) == (["passed"] * 3, 6)
    assert not rows_of(graded, FORMULA)


def test_the_summary_totals_each_student_and_progress_is_shown(graded):
    lines = graded["stdout"].splitlines()
    assert lines[0].split() == ["student", "score", "cells", "not", "passed"]
    assert any(line.split() == ["good", "6/6"] for line in lines)
    assert any(line.split() == ["loop", "4/6", "timeout", "1"] for line in lines)
    assert "grading" in graded["stderr"] and "nb" in graded["stderr"]  # the progress bar
    assert "wrote 54 rows" in graded["stderr"]


# --------------------------------------------------------------------------- a run that dies

FATE = (  # a setup cell of the instructor's: the pytest run dies when a student's answer says so
    "import os, signal\n"
    "fate = majority(-1)\n"
    "if fate == 'kill':\n    os.kill(os.getppid(), signal.SIGKILL)\n"
    "if fate == 'stop':\n    os.kill(os.getppid(), signal.SIGSTOP)"
)


def test_a_pytest_run_that_dies_or_stalls_costs_only_the_notebook_it_was_running(
    tmp_path, monkeypatch
):
    # Students' code cannot reach the pytest process any more (it runs in a sandbox), but a run
    # can still die under a notebook (the OOM killer, a crash of the machinery): here the
    # instructor's setup cell kills or stops it for two students' answers.
    pristine = quorum_exercise()
    pristine.cells.insert(3, code_cell(FATE, "fate"))
    write(pristine, tmp_path / "ex" / "01_quorum.ipynb")
    subs = tmp_path / "subs"
    fated = "def majority(n):\n    return {-1: %r}.get(n, n // 2 + 1)"
    student(subs, "a-good", quorum_exercise(MAJORITY, FAILURES))
    student(subs, "b-kills-pytest", quorum_exercise(fated % "kill", FAILURES))
    student(subs, "c-stops-pytest", quorum_exercise(fated % "stop", FAILURES))
    student(subs, "d-good", quorum_exercise(MAJORITY, FAILURES))
    # give up on a silent run after 3 + 12 s: long enough for a first result (pytest, a kernel and
    # a sandbox starting) on a busy 2-core machine, where 3 + 4 s was not
    monkeypatch.setattr(runner, "STALL_GRACE", 12.0)
    rows = by_student(G.grade(tmp_path / "ex", subs, workers=1, timeout=TIMEOUT, sandbox=SANDBOX))
    assert statuses(rows["a-good"]) == ["passed"] * 3
    assert statuses(rows["b-kills-pytest"]) == ["error"] * 3
    assert statuses(rows["c-stops-pytest"]) == ["error"] * 3
    assert statuses(rows["d-good"]) == ["passed"] * 3


# --------------------------------------------------------------------------- CI's check


def test_check_exercises_proves_solutions_pass_stubs_fail_and_wrong_answers_lose(tmp_path):
    ex = tmp_path / "ex"
    write(quorum_exercise(), ex / "01_quorum.ipynb")
    write(quorum_exercise(MAJORITY, FAILURES), ex / "solutions" / "01_quorum.ipynb")
    wrong = tmp_path / "wrong"
    write(quorum_exercise(WRONG, FAILURES), wrong / "floor-half" / "01_quorum.ipynb")
    assert G.check_exercises(ex, wrong_dir=wrong, workers=2, timeout=TIMEOUT, sandbox=SANDBOX) == []


def test_check_exercises_reports_a_failing_solution_a_passing_stub_and_a_missed_wrong_answer(
    tmp_path, capsys
):
    ex = tmp_path / "ex"
    lenient = quorum_exercise()
    lenient.cells[7].source = "assert callable(max_failures)"  # a stub passes this
    write(lenient, ex / "01_quorum.ipynb")
    solution = quorum_exercise(MAJORITY, FAILURES)
    solution.cells[7].source = lenient.cells[7].source
    solution.cells[2].source = WRONG  # the instructor's solution is wrong
    write(solution, ex / "solutions" / "01_quorum.ipynb")
    write(quorum_exercise(), ex / "02_orphan.ipynb")  # no solution notebook
    wrong = tmp_path / "wrong"
    write(solution, wrong / "same-as-solution" / "02_orphan.ipynb")
    write(quorum_exercise(MAJORITY, FAILURES), wrong / "not-wrong" / "02_orphan.ipynb")
    problems = G.check_exercises(ex, wrong_dir=wrong, workers=2, timeout=TIMEOUT, sandbox=SANDBOX)
    assert problems == [
        "02_orphan.ipynb: no solution notebook " + str(ex / "solutions" / "02_orphan.ipynb"),
        "01_quorum.ipynb [majority_small]: the solution scores 0 (failed); it must pass every test cell",
        "01_quorum.ipynb [majority_bound]: the solution scores 0 (failed); it must pass every test cell",
        "01_quorum.ipynb [t-failures]: the unsolved stub passes this test cell; a stub must score zero",
        "02_orphan.ipynb: the wrong answer 'not-wrong' scores full marks",
    ]
