#!/usr/bin/env bash
# JupyterLab with this project's kernel, opened on the quick start:
#   scripts/lab.sh                 set up .venv (scripts/setup.sh) plus JupyterLab, then open
#   scripts/lab.sh --port 8899     any further option goes to `jupyter lab`
# The notebooks' kernel is `python3` of .venv itself (ipykernel installed there), so a cell
# imports this checkout of nbworkflow. Nothing is installed when it is all there already.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python -c 'import jupyterlab, ipykernel, nbworkflow' 2>/dev/null; then
  scripts/setup.sh
  .venv/bin/pip install -q -e '.[lab]'
fi
# The kernel spec points at .venv's interpreter (inside .venv: no global Jupyter is touched).
.venv/bin/python -m ipykernel install --sys-prefix --name python3 \
  --display-name "Python 3 (nbworkflow .venv)" >/dev/null
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)  # containers run as root
exec .venv/bin/jupyter lab "${extra[@]}" "$@" notebooks/quickstart.ipynb
