"""The command line: ``python -m zablib.grade``; see :mod:`zablib.grade` for what it does.

``python -m zablib.grade release SOURCE OUT`` writes the student version of an instructor's
exercise source (:mod:`zablib.grade.release`); every other form grades or checks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from zablib.grade.check import check_exercises
from zablib.grade.gradebook import summarize, write_csv
from zablib.grade.grader import grade
from zablib.grade.notebook import GradeInputError
from zablib.grade.release import release_exercises

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m zablib.grade",
        description="Grade students' exercise notebooks against the pristine copies with nbval.",
    )
    p.add_argument("--pristine", metavar="DIR", help="folder of pristine exercise notebooks")
    p.add_argument("--submissions", metavar="DIR", help="one folder per student")
    p.add_argument("--out", metavar="CSV", default="grades.csv", help="gradebook to write")
    p.add_argument("-n", "--workers", type=int, default=1, help="notebooks run in parallel")
    p.add_argument("--timeout", type=float, default=30, help="seconds per cell (default 30)")
    p.add_argument("--workdir", metavar="DIR", help="keep spliced notebooks and logs here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-sandbox", action="store_true",
        help="run students' code without the bubblewrap sandbox (only if you trust every submission)",
    )  # fmt: skip
    p.add_argument(
        "--check-solutions", metavar="DIR",
        help="instead of grading: check that DIR/solutions score full marks and the stubs zero",
    )  # fmt: skip
    p.add_argument("--solutions", metavar="DIR", help="with --check-solutions: solutions folder")
    p.add_argument("--wrong", metavar="DIR", help="with --check-solutions: wrong answers folder")
    return p


def _release_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m zablib.grade release",
        description="Write the student version of an exercise source: solutions stripped, "
        "cells tagged 'hidden' removed, outputs cleared.",
    )
    p.add_argument("source", metavar="SOURCE", help="folder of the instructor's exercise notebooks")
    p.add_argument("out", metavar="OUT", help="folder to write the student versions to")
    return p


def _release(argv: Sequence[str]) -> int:
    parser = _release_parser()
    args = parser.parse_args(argv)
    try:
        written = release_exercises(args.source, args.out)
    except GradeInputError as exc:
        parser.error(str(exc))
    for path in written:
        print(f"released {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see :mod:`zablib.grade`.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``). If the first is ``release``, the rest are those
        of ``python -m zablib.grade release SOURCE OUT``.

    Returns
    -------
    int
        0 on success; 1 if ``--check-solutions`` found problems.

    Raises
    ------
    SystemExit
        With an argparse-style message on bad input.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["release"]:
        return _release(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    progress = not args.no_progress
    try:
        if args.check_solutions:
            problems = check_exercises(
                args.check_solutions, args.solutions, wrong_dir=args.wrong,
                workers=args.workers, timeout=args.timeout, progress=progress,
                sandbox=False if args.no_sandbox else "auto",
            )  # fmt: skip
            for problem in problems:
                print(f"PROBLEM: {problem}")
            if problems:
                return 1
            print(f"ok: solutions in {args.solutions or Path(args.check_solutions, 'solutions')} "
                  "score full marks and the stubs zero")  # fmt: skip
            return 0
        if not args.pristine or not args.submissions:
            parser.error("--pristine and --submissions are required (or use --check-solutions)")
        rows = grade(
            args.pristine, args.submissions, workers=args.workers, timeout=args.timeout,
            progress=progress, workdir=args.workdir, sandbox=not args.no_sandbox,
        )  # fmt: skip
    except GradeInputError as exc:
        parser.error(str(exc))
    write_csv(rows, args.out)
    print(summarize(rows))
    print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)
    return 0
