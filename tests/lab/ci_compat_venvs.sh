#!/usr/bin/env bash
# Two more JupyterLab installs for tests/lab/test_lab_compat.py, each with the wheel ci_build_wheel.sh
# built (dist/jupyter_mlsec-*.whl): the oldest JupyterLab the extension supports (4.0.x), and the newest
# 4.x next to jupyterlab-lsp with python-lsp-server. Prints the two lines to export.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WHEEL="$(ls "${MLSEC_WHEEL_DIR:-$REPO/dist}"/jupyter_mlsec-*.whl)"
BASE="${MLSEC_COMPAT_DIR:-${TMPDIR:-/tmp}/mlsec-lab-compat}"
PY="${PYTHON:-python3}"

make_venv() {  # name, pip requirements...
  local dir="$BASE/$1"; shift
  rm -rf "$dir"
  "$PY" -m venv "$dir"
  "$dir/bin/pip" install -q "$WHEEL" "$@" >&2
  local listing
  listing="$("$dir/bin/python" -m jupyterlab.labextensions list 2>&1)"
  grep -q "jupyter-mlsec.*enabled.*OK" <<<"$listing" || { echo "$listing" >&2; echo "jupyter-mlsec not enabled in $dir" >&2; exit 1; }
}

mkdir -p "$BASE"
make_venv oldest "jupyterlab==4.0.*" &
make_venv lsp "jupyterlab>=4.0,<5" jupyterlab-lsp "python-lsp-server[pyflakes]" &
wait -n && wait -n
echo "MLSEC_LAB_OLDEST_PYTHON=$BASE/oldest/bin/python"
echo "MLSEC_LAB_LSP_PYTHON=$BASE/lsp/bin/python"
