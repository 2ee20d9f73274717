"""The grader against a class that attacks it (issue 12), graded in one run.

Every attacker in ``tests/hostile/`` hands in the same wrong answer, ``majority(n) = n // 2``
(and the right ``max_failures``), wrapped in a trick: rewriting the checks (input and AST
transformers, event hooks, a replaced kernel, a trace function, patched builtins and modules,
objects equal to everything), forging or destroying results (records in every file and pipe, a
daemon rewriting the gradebook, killing and stopping every process it sees), harming others
(overwriting the instructor's notebooks, zablib, classmates' submissions and the work folder),
reading answers (the instructor's source and solutions, classmates' notebooks, /proc, a server on
the grading machine), exhausting resources, and strings the grader could choke on. The course is
graded as an instructor should: against its source (reference solutions in the solution cells,
a hidden test), with students holding the release.

One run (``-n 2``, batches of 16: honest students before, among and after the attackers, in
both batches), then the checks: each attacker scores exactly what the plain wrong answer scores,
every honest student full marks, the instructor's files and zablib hash the same, no process of
the run is left, nothing was written outside the sandboxes, the server heard nothing, and the
gradebook is complete and stays as the grader wrote it.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import http.server
import io
import os
import threading
import time
from pathlib import Path

import nbformat
import pytest
from test_grade import FAILURES, MAJORITY, WRONG, code_cell, quorum_exercise, sandbox_here, write

from zablib import grade as G
from zablib.grade.sandbox import FIRST_UID

HOSTILE = Path(__file__).resolve().parent / "hostile"
ATTACKS = sorted(p.stem for p in HOSTILE.glob("*.py"))
TIMEOUT = 3
HONEST = ["aaa-honest", "mmm-honest", "zzz-honest"]  # first, among, and after the attackers
TESTS = ["majority_small", "majority_bound", "t-failures", "t-hidden"]
FULL_MARKS = 2 + 3 + 1 + 2
FORMULA = '=HYPERLINK("evil.example","grades")'  # a student folder named as a formula

pytestmark = pytest.mark.skipif(
    not (os.environ.get("CI") or sandbox_here()),
    reason="bubblewrap is not installed: apt-get install bubblewrap (scripts/test.sh does it as root)",
)


def course_source():
    """The instructor's source: reference solutions in the solution cells, and a hidden test."""
    nb = quorum_exercise(MAJORITY, FAILURES)
    hidden = "# points: 2\nassert majority(101) == 51 and max_failures(101) == 50"
    nb.cells.append(code_cell(hidden, "t-hidden", ["tests", "hidden"]))
    return nb


def handed_in(released, majority, failures=FAILURES):
    """The student version with the student's two solution cells."""
    nb = copy.deepcopy(released)
    nb.cells[2].source, nb.cells[6].source = majority, failures
    return nb


def tree_hash(*roots):
    """One hash of every file under `roots` (names, bytes and modes)."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(f"{path}:{path.stat().st_mode}:".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


class _Answers(http.server.BaseHTTPRequestHandler):
    """A server on the grading machine that would hand out the answer to whoever asked."""

    asked: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        _Answers.asked.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(MAJORITY.encode())

    def log_message(self, *args):
        pass


def _run_processes(since: float, workdir: Path) -> list[str]:
    """Processes of this run still alive: sandboxed ones (another PID namespace, a worker's user
    id, started since `since`) and any working in `workdir` (kernels, pytest)."""
    ticks = os.sysconf("SC_CLK_TCK")
    boot = time.time() - float(Path("/proc/uptime").read_text().split()[0])
    own_ns = os.readlink("/proc/self/ns/pid")
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            started = boot + int((entry / "stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
            uid = int((entry / "status").read_text().split("Uid:")[1].split()[0])
            in_sandbox = os.readlink(entry / "ns" / "pid") != own_ns
            cwd = os.readlink(entry / "cwd")
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if started < since - 1:
            continue
        if (in_sandbox and FIRST_UID <= uid < FIRST_UID + 20000) or cwd.startswith(str(workdir)):
            left.append(f"{entry.name} uid={uid} cwd={cwd} {cmd[:120]}")
    return left


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """Grade the class once through the command line; return what the checks need."""
    root = tmp_path_factory.mktemp("hostile")
    source, release, subs = root / "course-source", root / "course-release", root / "submissions"
    work, out, mark = root / "work", root / "grades.csv", root / "written-by-an-attacker"
    write(course_source(), source / "01_quorum.ipynb")
    write(course_source(), source / "solutions" / "01_quorum.ipynb")
    (source / "_checks.py").write_text("TOLERANCE = 0\n")
    G.release_exercises(source, release)
    released = nbformat.read(release / "01_quorum.ipynb", as_version=4)
    for name in HONEST:
        write(handed_in(released, MAJORITY), subs / name / "01_quorum.ipynb")
    write(handed_in(released, WRONG), subs / "baseline-wrong" / "01_quorum.ipynb")
    write(released, subs / "baseline-stub" / "01_quorum.ipynb")
    write(handed_in(released, WRONG), subs / FORMULA / "01_quorum.ipynb")
    write(handed_in(released, MAJORITY), subs / ".hidden-copy" / "01_quorum.ipynb")
    (subs / "copycat").symlink_to(subs / HONEST[0])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    places = {
        "__SOURCE__": str(source), "__SUBMISSIONS__": str(subs), "__WORKDIR__": str(work),
        "__OUT__": str(out), "__MARK__": str(mark), "__PORT__": str(server.server_address[1]),
        "__HONEST__": str(subs / HONEST[1] / "01_quorum.ipynb"), "__PLANTED__": "pwned",
    }  # fmt: skip
    for attack in ATTACKS:
        text = (HOSTILE / f"{attack}.py").read_text()
        for key, value in places.items():
            text = text.replace(key, value)
        path = write(handed_in(released, text), subs / f"b-{attack}" / "01_quorum.ipynb")
        if attack == "lone_surrogate":  # and one in the notebook's JSON itself
            raw = path.read_text().replace("SURROGATE-IN-JSON", "\\ud800")
            path.write_text(raw)
    guarded = [source, release, Path(G.__file__).parent, *(subs / n for n in HONEST)]
    planted = [Path(G.__file__).parent / "pwned.py", Path(os.__file__).parent / "pwned.py"]
    before = tree_hash(*guarded)
    argv = [
        "--pristine", str(source), "--submissions", str(subs), "--out", str(out), "-n", "2",
        "--timeout", str(TIMEOUT), "--workdir", str(work), "--no-progress",
    ]  # fmt: skip
    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.time()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = G.main(argv)
        seconds = time.time() - started
        written = out.read_bytes()
        time.sleep(1.5)  # time for a daemon that outlived its sandbox to do its work
        left = _run_processes(started, work)
    finally:
        server.shutdown()
    after = tree_hash(*guarded)
    with open(out, newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    return {
        "code": code, "csv": table, "written": written, "now": out.read_bytes(), "left": left,
        "hashes": (before, after), "mark": [p for p in (mark, *planted) if p.exists()],
        "asked": list(_Answers.asked), "stderr": stderr.getvalue(), "seconds": seconds,
    }  # fmt: skip


def score(attacked, student):
    rows = [r for r in attacked["csv"] if r["student"] == student]
    assert [r["test"] for r in rows] == TESTS, f"{student}: rows {rows}"
    return sum(float(r["points"]) for r in rows)


def test_the_grader_finishes_and_writes_a_row_for_every_student_and_test(attacked):
    assert attacked["code"] == 0
    students = sorted([*HONEST, "baseline-wrong", "baseline-stub", "copycat", FORMULA,
                       *(f"b-{a}" for a in ATTACKS)])  # fmt: skip
    in_csv = ["'" + s if s == FORMULA else s for s in students]
    assert [(r["student"], r["test"]) for r in attacked["csv"]] == [(s, t) for s in in_csv for t in TESTS]
    assert attacked["seconds"] < 240  # the lean budget of this file; ~1 min on 2 idle cores


def test_honest_students_get_full_marks_and_the_baselines_what_they_deserve(attacked):
    assert {s: score(attacked, s) for s in HONEST} == {s: FULL_MARKS for s in HONEST}
    assert score(attacked, "baseline-wrong") == 1  # only max_failures is right
    assert score(attacked, "baseline-stub") == 0


@pytest.mark.parametrize("attack", ATTACKS)
def test_an_attack_earns_what_the_wrong_answer_under_it_earns(attacked, attack):
    assert score(attacked, f"b-{attack}") == score(attacked, "baseline-wrong")


def test_hidden_tests_run_at_grading_and_the_reference_solutions_never_run(attacked):
    hidden = {r["student"]: r["status"] for r in attacked["csv"] if r["test"] == "t-hidden"}
    assert {hidden[s] for s in HONEST} == {"passed"}
    assert hidden["baseline-stub"] == "failed"  # graded on the source, yet its stub is what ran


def test_the_instructors_files_the_grader_and_classmates_submissions_are_untouched(attacked):
    before, after = attacked["hashes"]
    assert before == after
    assert attacked["mark"] == [], "an attacker wrote a file outside its sandbox"


def test_no_process_of_the_run_outlives_it(attacked):
    assert attacked["left"] == []


def test_the_gradebook_is_the_graders_and_stays_so(attacked):
    assert attacked["now"] == attacked["written"]
    assert {r["status"] for r in attacked["csv"]} <= set(G.STATUSES)


def test_no_answer_came_from_the_network(attacked):
    assert attacked["asked"] == []


def test_a_symlinked_folder_is_refused_and_odd_names_are_written_as_text(attacked):
    assert {r["status"] for r in attacked["csv"] if r["student"] == "copycat"} == {"invalid-notebook"}
    assert score(attacked, "'" + FORMULA) == 1
    assert "refused copycat" in attacked["stderr"] and "skipped .hidden-copy (hidden)" in attacked["stderr"]
