"""``python -m zablib.datadriven [--rewrite] FILE...``: check or regenerate transcripts."""

from __future__ import annotations

import argparse
import sys

from zablib.datadriven import ScriptError, check_file, report, rewrite_file


def main(argv: list[str] | None = None) -> int:
    """Check each transcript (exit 1 and print a diff if one differs), or rewrite its outputs."""
    parser = argparse.ArgumentParser(
        prog="python -m zablib.datadriven",
        description="Run data-driven transcripts (command, ----, expected output) and compare "
                    "or regenerate their outputs.")
    parser.add_argument("files", nargs="+", help="transcript files, e.g. tests/golden/*.txt")
    parser.add_argument("--rewrite", action="store_true",
                        help="write the actual outputs into the files; review with git diff")
    args = parser.parse_args(argv)
    status = 0
    for name in args.files:
        try:
            if args.rewrite:
                print(f"{name}: {'rewritten' if rewrite_file(name) else 'unchanged'}")
                continue
            mismatches = check_file(name)
        except (ScriptError, OSError) as exc:
            print(exc, file=sys.stderr)
            status = 1
            continue
        if mismatches:
            print(report(mismatches))
            status = 1
        else:
            print(f"{name}: ok")
    return status


if __name__ == "__main__":
    sys.exit(main())
