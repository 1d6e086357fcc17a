#!/usr/bin/env bash
# Tests of the Python model tools (tokenizer rule, BM25, metrics, safetensors, the export round trip:
# scripts/export_onnx.py on the committed weights reproduces the committed model.onnx within 1e-5).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x scripts/.venv/bin/python ] || bash scripts/setup-python.sh
PYTHONPATH=. scripts/.venv/bin/python -m unittest -v scripts.tests.test_modelkit 2>&1 | tail -n 25
exit "${PIPESTATUS[0]}"
