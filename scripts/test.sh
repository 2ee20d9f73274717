#!/usr/bin/env bash
# Run the whole test suite: unit and property tests, widget tests, the grader, strict nbval over
# the introduction and every chapter, the differential tests against a real ZooKeeper, and a
# warnings-as-errors book build.
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
install_zookeeper

# The grader sandboxes students' code with bubblewrap (Debian's bubblewrap package); its tests
# need it. Installed here when missing and we are root with apt-get, as ZooKeeper is; otherwise
# say what to install (the grader's tests then grade without the sandbox and its hostile-submission
# tests skip; under CI=true both fail).
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing bubblewrap with apt-get (for the grader's sandbox) ..."
    log="$(mktemp)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends bubblewrap; } >"$log" 2>&1; then
      tail -n 20 "$log" >&2
      echo "warning: apt-get could not install bubblewrap" >&2
    fi
    rm -f "$log"
  else
    echo "note: the grader's tests need bubblewrap: run \`apt-get install bubblewrap\` as root" >&2
  fi
fi

# The browser test (tests/test_browser.py) opens every built page in Debian's headless chromium,
# with fonts-wqy-zenhei for the glossary's Chinese. Installed here when missing and we are root
# with apt-get; otherwise that test skips naming the packages (under CI=true it fails).
browser_missing=()
command -v chromium >/dev/null 2>&1 || browser_missing+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || browser_missing+=(fonts-wqy-zenhei)
if [ ${#browser_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing ${browser_missing[*]} with apt-get (for the browser test) ..."
    log="$(mktemp)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${browser_missing[@]}"; } >"$log" 2>&1; then
      tail -n 20 "$log" >&2
      echo "warning: apt-get could not install ${browser_missing[*]}" >&2
    fi
    rm -f "$log"
  else
    echo "note: the browser test needs ${browser_missing[*]}: run \`apt-get install ${browser_missing[*]}\` as root" >&2
  fi
fi

ruff check zablib tests benchmarks
python -m pytest -n 2 --dist loadscope \
  --nbval --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg \
  tests intro.ipynb chapters "$@"
