#!/usr/bin/env bash
# Set up everything the tests need (system packages via apt-get, the venv with test extras),
# then lint, type-check and run the whole suite: unit, integration (real bwrap, real Docker
# engine, real kernel, real JupyterLab in Debian's chromium, real HTTP servers on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff check"; ruff check src tests bench
echo "== ruff format --check"; ruff format --check src tests bench
echo "== mypy"; mypy
echo "== pytest"
set +e
pytest "$@"
code=$?
set -e
if [ "$code" = 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$code"
