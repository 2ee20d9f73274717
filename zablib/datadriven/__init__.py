"""Data-driven transcripts: each scripted command next to the output it printed.

A transcript file holds a run as commands and their expected outputs, in the format of
cockroachdb/datadriven that etcd-io/raft's ``testdata/*.txt`` use::

    show note client crash recover partition heal
    ----

    cluster zab n=3 seed=5
    ----

    run until=settled poll=20
    ----
        15.191  note      1  elected 3 in round 1
        ...

    crash 3
    ----
       150.000  crash     3

Running a file executes every command in order (:class:`Interpreter`) and compares each output
with the expected one; :func:`rewrite_file` writes the actual outputs in place instead, so that
``git diff`` shows what changed. From a shell::

    python -m zablib.datadriven tests/golden/zab_trunc.txt            # check, print diffs
    python -m zablib.datadriven --rewrite tests/golden/zab_trunc.txt  # regenerate

The same interpreter scripts a run for a reader: ``Interpreter().run("cluster raft n=5")``.
The commands are listed in :mod:`zablib.datadriven.commands`, the conditions of ``run until=`` in
:mod:`zablib.datadriven.conditions`, the file format in :mod:`zablib.datadriven.fileformat`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zablib.datadriven.commands import COMMANDS, Interpreter, protocols, usage
from zablib.datadriven.conditions import CONDITIONS
from zablib.datadriven.fileformat import Case, ScriptError, cases, diff, parse, render


@dataclass(frozen=True)
class Mismatch:
    """A case whose actual output differs from the expected one.

    Attributes
    ----------
    source : str
        The transcript's file name.
    case : Case
        The command, its line and its expected output.
    actual : str
        What the command printed.
    """

    source: str
    case: Case
    actual: str

    def diff(self) -> str:
        """A unified diff, expected -> actual, headed by the file, line and command."""
        return f"{self.source}:{self.case.line}: {self.case.command}\n" + diff(
            self.case, self.actual, self.source)


def run_text(text: str, source: str = "<script>") -> list[tuple[Case, str]]:
    """Run every command of a transcript; return each case with its actual output.

    Raises
    ------
    ScriptError
        At the first command that cannot be parsed or run, naming ``source`` and the line.
    """
    interpreter = Interpreter(source)
    return [(case, interpreter.run(case.command, case.line)) for case in cases(parse(text, source))]


def check_text(text: str, source: str = "<script>") -> list[Mismatch]:
    """The cases of a transcript whose output differs from the expected one (empty: all match)."""
    return [Mismatch(source, case, actual) for case, actual in run_text(text, source)
            if actual != case.expected]


def fill_text(text: str, source: str = "<script>") -> str:
    """The transcript with every expected output replaced by the actual one.

    Comments, blank lines and command lines are kept as written.
    """
    actual = iter(out for _, out in run_text(text, source))
    blocks = [b if isinstance(b, str) else Case(b.line, b.command, next(actual))
              for b in parse(text, source)]
    return render(blocks)


def check_file(path: str | Path) -> list[Mismatch]:
    """:func:`check_text` of a file."""
    path = Path(path)
    return check_text(path.read_text(encoding="utf-8"), str(path))


def rewrite_file(path: str | Path) -> bool:
    """Regenerate a transcript's outputs in place; True if the file changed.

    Regenerate only when the difference is understood: ``git diff`` shows it.
    """
    path = Path(path)
    old = path.read_text(encoding="utf-8")
    new = fill_text(old, str(path))
    if new != old:
        path.write_text(new, encoding="utf-8")
    return new != old


def report(mismatches: list[Mismatch]) -> str:
    """A failure message: the diff of the first differing case and where the others are."""
    if not mismatches:
        return ""
    first, rest = mismatches[0], mismatches[1:]
    text = first.diff()
    if rest:
        where = ", ".join(str(m.case.line) for m in rest)
        text += f"\n({len(rest)} later case(s) differ too, at line(s) {where})"
    text += ("\nIf the change is intended and understood, regenerate with "
             f"`python -m zablib.datadriven --rewrite {first.source}` and review `git diff`.")
    return text


__all__ = [
    "COMMANDS",
    "CONDITIONS",
    "Case",
    "Interpreter",
    "Mismatch",
    "ScriptError",
    "check_file",
    "check_text",
    "fill_text",
    "parse",
    "protocols",
    "render",
    "report",
    "rewrite_file",
    "run_text",
    "usage",
]
