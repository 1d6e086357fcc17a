#!/usr/bin/env bash
# Rebuilds models/ko-reranker-tiny and test/fixtures/reference.json from data/msmarco-ko (npm run model:build).
# Extra arguments go to the builder, e.g. `npm run model:build -- --fixtures-only`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x scripts/.venv/bin/python ] || bash scripts/setup-python.sh
PYTHONPATH=. exec scripts/.venv/bin/python -m scripts.modelkit.build "$@"
