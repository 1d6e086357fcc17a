#!/usr/bin/env bash
# Spec vs behaviour: schemathesis (a venv from PyPI) against the real server with API keys on, every check, a bounded
# number of examples per operation (SCHEMATHESIS_EXAMPLES, default 100), a fixed seed. Exit code: schemathesis's.
# Two checks are left out until the spec can say what the code enforces (issue 15 item 8, see /openapi.json):
#   positive_data_acceptance: bodies that name passages and documents (or pairs and text_1/text_2) at once are
#     refused 422 by design, the schemas do not express "exactly one of";
#   not_a_server_error: `timeout_ms: 1` is answered 503 timeout, as documented, and counts as a 5xx here.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=scripts/.venv-schemathesis
[ -x "$VENV/bin/schemathesis" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --disable-pip-version-check 'schemathesis>=4,<5'; }
"$VENV/bin/schemathesis" --version
PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
KEY=schemathesis-$RANDOM$RANDOM
HOST=127.0.0.1 PORT=$PORT DEVICE=cpu LOG_LEVEL=warn API_KEYS=$KEY node bin/ko-rerank.mjs serve &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.5; done
"$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/openapi.json" \
  --checks all --exclude-checks positive_data_acceptance,not_a_server_error \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-100}" --seed 20261201 --continue-on-failure \
  --request-timeout 60 --no-color -H "Authorization: Bearer $KEY"
