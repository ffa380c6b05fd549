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
# Stamp the sources this bundle was built from: tests/test_labextension.py fails when they
# change and the bundle is not rebuilt (webpack's output is not byte-reproducible, so the
# stamp, not a rebuild, is what the test compares).
sha256sum lib/index.js package.json package-lock.json install.json > prebuilt/nbworkflow-yaml/source.sha256
