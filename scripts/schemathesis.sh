#!/usr/bin/env bash
# Spec vs behaviour: schemathesis (a venv from PyPI) against the real server with API keys on, every check
# (`--checks all`, none excluded), a bounded number of examples per operation (SCHEMATHESIS_EXAMPLES, default 100), a
# fixed seed. Exit code: schemathesis's.
# The spec (/openapi.json, from the route schemas) says what the server takes: exactly one of passages or documents,
# non-blank queries, the values each field accepts. scripts/schemathesis_hooks.py accepts the few refusals of
# schema-valid bodies that OpenAPI 3.0 cannot state (a client's own timeout_ms passing: 504 deadline_exceeded; a
# method a path does not take: 405; rules across fields or over token counts), each matched on its status, type and
# message; see its header.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=scripts/.venv-schemathesis
if [ ! -x "$VENV/bin/schemathesis" ]; then
  bash scripts/ensure-python-venv.sh "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check 'schemathesis>=4,<5'
fi
"$VENV/bin/schemathesis" --version
PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
KEY=schemathesis-$RANDOM$RANDOM
HOST=127.0.0.1 PORT=$PORT DEVICE=cpu LOG_LEVEL=warn API_KEYS=$KEY node bin/ko-rerank.mjs serve &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
node -e "(async()=>{for(let i=0;i<240;i++){try{if((await fetch('http://127.0.0.1:$PORT/ready')).status===200)process.exit(0)}catch{}await new Promise(r=>setTimeout(r,500))}console.error('server not ready');process.exit(1)})()"
SCHEMATHESIS_HOOKS=scripts/schemathesis_hooks.py "$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/openapi.json" \
  --checks all \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-100}" --seed 20261201 --continue-on-failure \
  --request-timeout 60 --no-color -H "Authorization: Bearer $KEY"
