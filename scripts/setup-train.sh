#!/usr/bin/env bash
# npm run setup:train: the Python that `ko-rerank finetune` and `ko-rerank calibrate` run (scripts/.venv): the model
# tools of setup-python.sh (Debian's CPU torch, onnxruntime, onnx) plus transformers and matplotlib.
# With CUDA: create a Python with PyTorch for your CUDA (https://pytorch.org), `pip install -r scripts/requirements.txt
# -r scripts/requirements-train.txt` into it, and set KO_RERANK_PYTHON to its interpreter (docs/finetune.md).
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || bash setup-python.sh
.venv/bin/pip install -q --disable-pip-version-check -r requirements-train.txt
.venv/bin/python -c "import torch, transformers, matplotlib; print('training tools ready: torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"
