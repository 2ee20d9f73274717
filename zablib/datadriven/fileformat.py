"""The text format of a data-driven transcript, in the style of cockroachdb/datadriven.

A transcript is a sequence of *cases*. A case is one command line, a ``----`` separator and the
output that command is expected to print, which ends at the first blank line (or at the end of
the file)::

    # A comment: lines starting with '#' between cases are kept as they are.
    cluster zab n=3 seed=5
    ----

    run for=100
    ----
        15.191  note      1  elected 3 in round 1
        ...

An output that contains blank lines is written between a doubled separator, as datadriven does::

    command
    ----
    ----
    first paragraph

    second paragraph
    ----
    ----

This module knows nothing of what the commands mean (see :mod:`zablib.datadriven.commands`):
it reads a transcript into blocks, writes blocks back byte for byte, and diffs outputs.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

SEPARATOR = "----"


class ScriptError(ValueError):
    """A transcript cannot be read or run; the message names the file, the line and the problem.

    Attributes
    ----------
    source : str
        The file name (or ``"<script>"`` for text that came from elsewhere).
    line : int
        1-based line number of the offending line (0 when it is not known).
    problem : str
        What is wrong, without the location.
    """

    def __init__(self, source: str, line: int, problem: str):
        super().__init__(f"{source}:{line}: {problem}")
        self.source = source
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class Case:
    """One command and the output it is expected to print.

    Attributes
    ----------
    line : int
        1-based line number of the command in its file.
    command : str
        The command line as written (kept verbatim when the file is rewritten).
    expected : str
        The expected output, lines joined by ``"\\n"``, without a final newline ("" for none).
    """

    line: int
    command: str
    expected: str


#: A transcript: cases, and the lines between them (blank lines, comments) as plain strings.
Block = Case | str


def parse(text: str, source: str = "<script>") -> list[Block]:
    """Read a transcript into blocks; :func:`render` gives the same text back.

    Raises
    ------
    ScriptError
        For a command without its ``----`` line, a ``----`` without a command, or an output
        block opened with ``----`` twice that is never closed.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start a new one
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            blocks.append(line)
            i += 1
            continue
        if stripped == SEPARATOR:
            raise ScriptError(source, i + 1, f"'{SEPARATOR}' with no command on the line before it")
        if i + 1 >= len(lines) or lines[i + 1].strip() != SEPARATOR:
            raise ScriptError(source, i + 1, f"the command {stripped!r} must be followed by a "
                                             f"line '{SEPARATOR}' (and then its expected output)")
        command_line, i = i + 1, i + 2
        output: list[str] = []
        if i < len(lines) and lines[i] == SEPARATOR:
            start, i = i + 1, i + 1
            while not (i + 1 < len(lines) and lines[i] == SEPARATOR and lines[i + 1] == SEPARATOR):
                if i >= len(lines):
                    raise ScriptError(source, start, f"output opened with '{SEPARATOR}' twice is never "
                                                     f"closed by two '{SEPARATOR}' lines")
                output.append(lines[i])
                i += 1
            i += 2
        else:
            while i < len(lines) and lines[i].strip():
                output.append(lines[i])
                i += 1
        blocks.append(Case(command_line, line, "\n".join(output)))
    return blocks


def render(blocks: list[Block]) -> str:
    """Write blocks as transcript text (the inverse of :func:`parse`)."""
    lines: list[str] = []
    previous: Block | None = None
    for block in blocks:
        if isinstance(block, str):
            lines.append(block)
        else:
            if isinstance(previous, Case):
                lines.append("")  # a case's output ends at a blank line
            lines += [block.command, SEPARATOR]
            out = block.expected.split("\n") if block.expected else []
            if any(not line.strip() for line in out):
                lines += [SEPARATOR, *out, SEPARATOR, SEPARATOR]
            else:
                lines += out
        previous = block
    return "\n".join(lines) + "\n"


def cases(blocks: list[Block]) -> list[Case]:
    """The cases of a transcript, in order."""
    return [b for b in blocks if isinstance(b, Case)]


def diff(case: Case, actual: str, source: str) -> str:
    """A unified diff of the expected and the actual output of ``case``."""
    lines = difflib.unified_diff(
        case.expected.split("\n") if case.expected else [],
        actual.split("\n") if actual else [],
        fromfile=f"{source}:{case.line} expected",
        tofile="actual",
        lineterm="",
    )
    return "\n".join(lines)
