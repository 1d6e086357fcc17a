#!/usr/bin/env bash
# `npm run lint` (`bash scripts/lint.sh`): ESLint, Prettier's check and ruff (lint + format check) over the tree; each
# runs even when one before it failed, and the exit code is non-zero if any failed.
# `npm run format` (`bash scripts/lint.sh --fix`): rewrites what they can: eslint --fix, prettier --write, ruff check
# --fix, ruff format; then says what is left.
# ruff comes from PyPI (the pinned scripts/requirements-lint.txt) into scripts/.venv-lint, made the first time and again
# when that file changes.
set -euo pipefail
cd "$(dirname "$0")/.."
FIX=0
[ "${1:-}" = "--fix" ] && FIX=1

VENV=scripts/.venv-lint
if ! cmp -s scripts/requirements-lint.txt "$VENV/.complete" 2>/dev/null; then
  bash scripts/ensure-python-venv.sh "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-lint.txt
  cp scripts/requirements-lint.txt "$VENV/.complete"
fi
RUFF=$VENV/bin/ruff

failed=()
run() { local name=$1; shift; echo "lint: $name"; "$@" || failed+=("$name"); }
if [ $FIX -eq 1 ]; then
  run 'eslint --fix' npx eslint --fix .
  run 'prettier --write' npx prettier --write --log-level warn .
  run 'ruff check --fix' "$RUFF" check --fix .
  run 'ruff format' "$RUFF" format .
else
  run eslint npx eslint .
  run 'prettier --check' npx prettier --check --log-level warn .
  run 'ruff check' "$RUFF" check .
  run 'ruff format --check' "$RUFF" format --check .
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "lint: failed: $(IFS=,; echo "${failed[*]}")" >&2
  exit 1
fi
echo "lint: clean"
