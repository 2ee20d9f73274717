# Sourced by build-book.sh and test.sh: create .venv with Python 3.11 if needed and install
# requirements.txt into it whenever that file changed since the last install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "error: Python 3.11 is needed (found $("$python" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtual environment .venv ..."
  "$python" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want="$(sha256sum requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing requirements.txt into .venv (first time takes a few minutes) ..."
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements.txt
  echo "$want" > "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"

# The differential tests start a real ZooKeeper (tests/zookeeper.py): Debian's zookeeper package
# (3.8, which pulls in a Java runtime). Installed here when missing and we are root with apt-get
# (quietly; a few seconds); otherwise say what to install, and those tests skip (fail under CI=true).
install_zookeeper() {
  local missing=()
  [ -e /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
  command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing ${missing[*]} with apt-get (for the real-ZooKeeper tests) ..."
    local log
    log="$(mktemp)"
    if apt-get update -qq >"$log" 2>&1 \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >>"$log" 2>&1; then
      rm -f "$log"
      return 0
    fi
    tail -n 20 "$log" >&2
    rm -f "$log"
    echo "warning: apt-get could not install ${missing[*]}" >&2
  fi
  echo "note: the real-ZooKeeper tests need ${missing[*]}: run \`apt-get install ${missing[*]}\`" \
    "as root (Debian/Ubuntu); without it they are skipped (and fail under CI=true)" >&2
}

# Run directly (`bash scripts/venv.sh`, the README's local route) rather than sourced: say what next.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo ".venv is ready. Open the first exercise with: .venv/bin/jupyter lab exercises/01_replication.ipynb"
fi
