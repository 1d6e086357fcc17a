#!/usr/bin/env bash
# The Python client libraries of RAG stacks, each against the real server on 127.0.0.1 (test/clients/): cohere 5.x
# and 7.x, langchain-cohere, llama-index's CohereRerank, haystack's HuggingFaceTEIRanker, langchain_community's
# JinaRerank, plus raw-HTTP checks of vLLM's and the SageMaker toolkit's shapes. Needs node_modules (npm ci).
# Installs a venv from PyPI (scripts/.venv-clients, about 30 s and 250 MB) the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=scripts/.venv-clients
if [ ! -f "$VENV/.complete" ]; then
  bash scripts/ensure-python-venv.sh "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-clients.txt -c scripts/constraints-clients.txt
  # cohere 7.x beside 5.x: its own directory, first on sys.path for test_cohere7 only (same dependencies as 5.x).
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --target "$VENV/cohere7" cohere==7.3.1
  touch "$VENV/.complete"
fi
export HAYSTACK_TELEMETRY_ENABLED=False
cd test/clients
status=0
PYTHONPATH=. "../../$VENV/bin/python" -W ignore -m unittest -v test_clients test_readme 2>&1 | tail -n 60 || status=1
PYTHONPATH=".:../../$VENV/cohere7" "../../$VENV/bin/python" -W ignore -m unittest -v test_cohere7 2>&1 | tail -n 20 || status=1
exit $status
