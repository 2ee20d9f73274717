#!/usr/bin/env bash
# Run the whole test suite: unit and property tests, widget tests, the grader, strict nbval over
# the introduction and every chapter, the differential tests against a real ZooKeeper, and a
# warnings-as-errors book build.
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
install_zookeeper
ruff check zablib tests benchmarks
python -m pytest -n 2 --dist loadscope \
  --nbval --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg \
  tests intro.ipynb chapters "$@"
