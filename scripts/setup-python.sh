#!/usr/bin/env bash
# Installs what the Python model tools need: Debian's torch / onnx / sentencepiece (run with /usr/bin/python3),
# OpenBLAS (Debian's torch otherwise runs on the reference BLAS, ~10x slower), and a venv on top of them with
# PyPI's torch wheels are multi-GB CUDA builds: we deliberately use Debian's CPU build instead.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq python3-torch python3-onnx python3-sentencepiece python3-numpy python3-venv libopenblas0-pthread >/dev/null
[ -x .venv/bin/python ] || /usr/bin/python3 -m venv --system-site-packages .venv
# onnx/protobuf from PyPI shadow Debian's: onnxruntime's quantizer needs the newer ones.
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
.venv/bin/python -c "import torch, onnxruntime, tokenizers, sentencepiece; print('python tools ready: torch', torch.__version__, 'onnxruntime', onnxruntime.__version__)"
