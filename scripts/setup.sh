#!/usr/bin/env bash
# Set up nbworkflow on this machine: a virtualenv in .venv with the package installed editable.
#   scripts/setup.sh            runtime only (enough for the demo)
#   scripts/setup.sh --test     also the test/bench tools and the system packages tests need
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

# System packages: bubblewrap (the strong sandbox), and for tests docker.io + chromium.
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
# libseccomp compiles the sandbox's seccomp filter (through the pyseccomp binding)
if command -v ldconfig >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2'; then
  need+=(libseccomp2)
fi
if [ "$want_test" = 1 ]; then
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need[*]} with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: missing ${need[*]}; install them with your package manager (the sandbox falls back to a weaker backend without bubblewrap)" >&2
  fi
fi

# Pick an interpreter: 3.11+ required.
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PY="$cand"; break
    fi
  done
fi
[ -n "$PY" ] || { echo "setup: Python 3.11 or newer is required" >&2; exit 2; }

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
extras="docker"
[ "$want_test" = 1 ] && extras="test,docker"
stamp=".venv/.nbworkflow-installed-$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip >/dev/null
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]"
  touch "$stamp"
fi
