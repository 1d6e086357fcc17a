#!/usr/bin/env bash
# Prints the command line of a Docker Compose v2 CLI, building one when none is installed.
#   `docker compose` when the plugin answers; else a cached build of github.com/docker/compose/v2 (COMPOSE_VERSION),
#   compiled from the Go module proxy with the machine's Go, or with a Go toolchain taken from the Go module proxy
#   (golang.org/toolchain) when the machine has none. Debian bookworm's own docker-compose is v1 (1.29), too old.
# usage: COMPOSE=$(bash scripts/docker-standins/ensure-compose.sh)      (progress on stderr)
# Cache: $KO_RERANK_CACHE (default /var/cache/ko-rerank)/compose-<version>/docker-compose; also installed as the
# CLI plugin ~/.docker/cli-plugins/docker-compose, so `docker compose` works afterwards.
set -euo pipefail
COMPOSE_VERSION=${COMPOSE_VERSION:-v2.40.3}
GO_TOOLCHAIN=${GO_TOOLCHAIN:-go1.26.8}
GOPROXY_URL=${GOPROXY_URL:-https://proxy.golang.org}
CACHE=${KO_RERANK_CACHE:-/var/cache/ko-rerank}
log() { echo "ensure-compose: $*" >&2; }

if docker compose version >/dev/null 2>&1; then
  echo "docker compose"
  exit 0
fi
BIN=$CACHE/compose-$COMPOSE_VERSION/docker-compose
if [ ! -x "$BIN" ]; then
  mkdir -p "$CACHE"
  GO=$(command -v go || true)
  [ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; } || true
  if [ -z "$GO" ]; then
    GOROOT_DIR=$CACHE/$GO_TOOLCHAIN
    if [ ! -x "$GOROOT_DIR/bin/go" ]; then
      log "no Go on this machine: fetching golang.org/toolchain $GO_TOOLCHAIN from the Go module proxy"
      zip=$CACHE/toolchain-$GO_TOOLCHAIN.zip
      curl -fsSL -o "$zip" "$GOPROXY_URL/golang.org/toolchain/@v/v0.0.1-$GO_TOOLCHAIN.linux-amd64.zip"
      tmp=$(mktemp -d "$CACHE/toolchain.XXXXXX")
      python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$tmp"
      # the module zip holds golang.org/toolchain@v0.0.1-goX.linux-amd64/{bin,pkg,src,...}; zip drops the x bits
      root=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -1)
      chmod -R u+x "$root/bin" "$root/pkg/tool"
      rm -rf "$GOROOT_DIR"; mv "$root" "$GOROOT_DIR"; rm -rf "$tmp" "$zip"
    fi
    GO=$GOROOT_DIR/bin/go
  fi
  log "building Compose $COMPOSE_VERSION with $($GO version) (once per machine; cached in $CACHE)"
  export GOPATH=$CACHE/gopath GOMODCACHE=$CACHE/gopath/pkg/mod GOCACHE=$CACHE/gocache GOFLAGS=-mod=mod
  export GOPROXY=$GOPROXY_URL GOTOOLCHAIN=local CGO_ENABLED=0
  src=$("$GO" mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  work=$(mktemp -d); trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
  cp -r "$src/." "$work/"; chmod -R u+w "$work"
  mkdir -p "$(dirname "$BIN")"
  (cd "$work" && "$GO" build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" -o "$BIN.tmp" ./cmd)
  mv "$BIN.tmp" "$BIN"
fi
mkdir -p "$HOME/.docker/cli-plugins"
ln -sf "$BIN" "$HOME/.docker/cli-plugins/docker-compose"
if docker compose version >/dev/null 2>&1; then echo "docker compose"; else echo "$BIN"; fi
