#!/usr/bin/env bash
# Build the jupyter-mlsec wheel the way a release is built, and install it where the browser tests
# will run JupyterLab from.
#
#   tests/lab/ci_build_wheel.sh            # wheel -> dist/, venv with JupyterLab + the wheel
#   tests/lab/ci_build_wheel.sh --here     # install the wheel into the current interpreter instead
#
# The wheel is built from a clean export of HEAD (`git archive`), so neither node_modules nor a stale
# src/mlsec/lab/labextension from a dev build can leak into it (gotcha G8). Needs node + npm registry
# access at build time (jlpm comes from the build env's jupyter-builder); the installed wheel needs no Node.
# Prints the line to export for the tests: MLSEC_LAB_PYTHON=<venv>/bin/python.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${MLSEC_WHEEL_DIR:-$REPO/dist}"
VENV="${MLSEC_LAB_VENV:-${TMPDIR:-/tmp}/mlsec-lab-venv}"
PY="${PYTHON:-python3}"
HERE=0
[[ "${1:-}" == "--here" ]] && HERE=1

# one yarn cache for every clean build on this machine (yarn 3 caches per project by default)
export YARN_ENABLE_GLOBAL_CACHE="${YARN_ENABLE_GLOBAL_CACHE:-true}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
git -C "$REPO" archive --format=tar HEAD | tar -x -C "$WORK"
mkdir -p "$OUT"
rm -f "$OUT"/jupyter_mlsec-*.whl
(cd "$WORK" && "$PY" -m build --wheel --outdir "$OUT")
WHEEL="$(ls "$OUT"/jupyter_mlsec-*.whl)"

# the wheel must carry the prebuilt extension and the server-extension switch
"$PY" - "$WHEEL" <<'PYEOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = [
    "share/jupyter/labextensions/jupyter-mlsec/package.json",
    "share/jupyter/labextensions/jupyter-mlsec/install.json",
    "share/jupyter/labextensions/jupyter-mlsec/schemas/jupyter-mlsec/plugin.json",
    "etc/jupyter/jupyter_server_config.d/jupyter-mlsec.json",
]
missing = [n for n in need if not any(x.endswith(n) for x in names)]
if missing or not any("/static/remoteEntry." in x for x in names):
    sys.exit(f"wheel is missing {missing or 'static/remoteEntry.*.js'}")
print(f"wheel ok: {sys.argv[1]} ({len(names)} files)")
PYEOF

if [[ $HERE == 1 ]]; then
  "$PY" -m pip install --force-reinstall --no-deps "$WHEEL"
  LAB_PY="$(command -v "$PY")"
else
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q "$WHEEL" "jupyterlab>=4.0,<5"
  LAB_PY="$VENV/bin/python"
fi
# (captured first: `grep -q` in a pipe under pipefail would fail on the writer's SIGPIPE)
LABEXT="$("$LAB_PY" -m jupyterlab.labextensions list 2>&1)"
grep -q "jupyter-mlsec.*enabled.*OK" <<<"$LABEXT" || { echo "$LABEXT"; echo "jupyter-mlsec labextension not enabled" >&2; exit 1; }
SERVEREXT="$("$LAB_PY" -m jupyter_server.extension.serverextension list 2>&1)"
grep -q "mlsec.*enabled" <<<"$SERVEREXT" || { echo "$SERVEREXT"; echo "mlsec server extension not enabled" >&2; exit 1; }
echo "MLSEC_LAB_PYTHON=$LAB_PY"
