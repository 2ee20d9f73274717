"""``python -m zablib.grade``: grade a class, or check that the exercises grade both ways."""

import sys

from zablib.grade.cli import main

if __name__ == "__main__":
    sys.exit(main())
