#!/usr/bin/env bash
# Rebuild the prebuilt JupyterLab extension (YAML highlighting of %%workflow cells) from npm
# packages into labextension/prebuilt/nbworkflow-yaml, which is committed and shipped in the
# wheel (share/jupyter/labextensions/nbworkflow-yaml): installing nbworkflow needs no Node.js.
# Needs node and npm, and .venv with JupyterLab (scripts/setup.sh --test).
set -euo pipefail
cd "$(dirname "$0")/../labextension"
npm install --no-audit --no-fund --loglevel=error
rm -rf prebuilt
PATH="$PWD/../.venv/bin:$PATH" jupyter labextension build .
cp install.json prebuilt/nbworkflow-yaml/
# The bundle's own package-lock.json is not shipped; the lock next to package.json pins the build.
