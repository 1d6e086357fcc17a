#!/usr/bin/env bash
# Installs onnxruntime-node's CUDA execution provider (libonnxruntime_providers_cuda.so + _shared.so) next to its
# native binding, from one of two sources of the same build version:
#   pypi   (default) the onnxruntime-gpu wheel pinned by hash in scripts/cuda-provider/requirements.txt; needs only
#          python3 -m pip and PyPI, so it works where NuGet is unreachable
#   nuget  onnxruntime-node's own install script (Microsoft.ML.OnnxRuntime.Gpu.Linux from api.nuget.org)
# usage: scripts/install-cuda-provider.sh [pypi|nuget] [--dest DIR] [--wheel FILE]
#   --dest   where to put the libraries (default: node_modules/onnxruntime-node/bin/napi-v6/linux/x64)
#   --wheel  use this already downloaded wheel instead of downloading it (pypi only; its hash is still checked)
# Both sources are built for CUDA 13 + cuDNN 9 since onnxruntime 1.27 (the NuGet manifest is still *named* cuda12).
set -euo pipefail
cd "$(dirname "$0")/.."
SOURCE=pypi
DEST=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
WHEEL=
while [ $# -gt 0 ]; do
  case "$1" in
    pypi|nuget) SOURCE=$1 ;;
    --dest) DEST=$2; shift ;;
    --wheel) WHEEL=$2; shift ;;
    *) echo "install-cuda-provider: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
REQS=scripts/cuda-provider/requirements.txt
NODE_ORT=$(node -p "require('./node_modules/onnxruntime-node/package.json').version")
PINNED=$(sed -n 's/^onnxruntime-gpu==\([0-9.]*\).*/\1/p' "$REQS")
if [ "$NODE_ORT" != "$PINNED" ]; then
  echo "install-cuda-provider: onnxruntime-node is $NODE_ORT but $REQS pins onnxruntime-gpu==$PINNED; they must be equal" >&2
  exit 1
fi
mkdir -p "$DEST"
case "$SOURCE" in
  nuget)
    # "cuda12" is the manifest's name in onnxruntime-node 1.30, not the CUDA version of what it downloads.
    ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js
    if [ "$DEST" != node_modules/onnxruntime-node/bin/napi-v6/linux/x64 ]; then
      cp node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_{cuda,shared}.so "$DEST"/
    fi
    ;;
  pypi)
    TMP=$(mktemp -d)
    trap 'rm -rf "$TMP"' EXIT
    if [ -z "$WHEEL" ]; then
      python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes --platform manylinux_2_28_x86_64 \
        --python-version 3.11 --implementation cp -r "$REQS" -d "$TMP"
      WHEEL=$(ls "$TMP"/onnxruntime_gpu-"$PINNED"-*.whl)
    fi
    python3 - "$WHEEL" "$DEST" "$REQS" <<'PY'
import hashlib, pathlib, re, shutil, sys, zipfile
wheel, dest, reqs = sys.argv[1:]
digest = hashlib.sha256(pathlib.Path(wheel).read_bytes()).hexdigest()
if digest not in re.findall(r"sha256:([0-9a-f]{64})", pathlib.Path(reqs).read_text()):
    sys.exit(f"install-cuda-provider: {wheel} has sha256 {digest}, which {reqs} does not pin")
with zipfile.ZipFile(wheel) as z:
    for name in ("libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"):
        with z.open(f"onnxruntime/capi/{name}") as src, open(pathlib.Path(dest) / name, "wb") as out:
            shutil.copyfileobj(src, out)
PY
    ;;
esac
for f in libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so; do
  test -s "$DEST/$f" || { echo "install-cuda-provider: $DEST/$f did not arrive" >&2; exit 1; }
done
echo "install-cuda-provider: onnxruntime $NODE_ORT CUDA provider ($SOURCE) in $DEST"
