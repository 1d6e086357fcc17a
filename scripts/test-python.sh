#!/usr/bin/env bash
# Tests of the Python model tools (the fine-tuning trainer of scripts/train, tokenizer rule, BM25, metrics, safetensors,
# quantization, the export round trip: scripts/export_onnx.py on the committed weights reproduces the committed
# model.onnx within 1e-5; the other families' exports are checked through the server by
# test/backend/families.test.ts), and the default
# model ko-reranker-small: backbone reader, pruned tokenizer, fp32 ONNX vs PyTorch within 1e-4, int8 file, sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x scripts/.venv/bin/python ] || bash scripts/setup-python.sh
scripts/.venv/bin/python -c "import transformers, matplotlib" 2>/dev/null || bash scripts/setup-train.sh
bash scripts/ensure-backbone.sh
PYTHONPATH=. scripts/.venv/bin/python -m unittest -v scripts.tests.test_modelkit scripts.tests.test_quantize scripts.tests.test_small_model scripts.tests.test_train 2>&1 | tail -n 40
status=${PIPESTATUS[0]}
# Every supported family (XLM-R 514 / 8,194 positions, BERT, ELECTRA, DeBERTa-v2): random checkpoints built with
# transformers, exported by scripts/export_onnx.py, served by the real server, logits through HTTP vs transformers'.
# The tap step before this one skips it when the venv is not made yet (a clean CI run).
npx tap --timeout 600 test/backend/families.test.ts || status=1
exit "$status"
