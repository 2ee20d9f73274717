#!/usr/bin/env bash
# Build the book into _build/html, executing every chapter; warnings are errors.
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
jupyter-book build . --builder html -W -n --keep-going "$@"
echo "The book is in $root/_build/html/index.html"
