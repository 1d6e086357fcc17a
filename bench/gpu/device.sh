#!/usr/bin/env bash
# GPU kit, on the GPU machine (bench/gpu/README.md). Files under KIT_STORE survive between calls only while the
# machine stays warm (30 s after a call), so the calls follow one another at once.
#   bash bench/gpu/device.sh stage        keep this call's carried pieces (bench/gpu/.kit/callN/); say what is missing
#   bash bench/gpu/device.sh run [ARGS]   check (sha256) and assemble the pieces, unpack Node, node_modules and the
#                                         CUDA provider into a copy of the repo, check the provider loads
#                                         (cuda-check), then bench/gpu/measure.py ARGS --out-dir "$OUT"
# Dry run here: KIT_STORE=/tmp/ko-kit-dry OUT=/tmp/kit-out PYTHON=scripts/.venv/bin/python \
#   bash bench/gpu/device.sh stage && ... run --shape small --device cpu
set -euo pipefail
cd "$(dirname "$0")/../.."
STORE=${KIT_STORE:-/tmp/ko-kit}
PYTHON=${PYTHON:-python3}
mkdir -p "$STORE/pieces"

missing() {
  local manifest=$1 n=0
  while read -r _ piece; do
    [ -s "$STORE/pieces/$piece" ] || { echo "  missing $piece"; n=$((n + 1)); }
  done < "$manifest"
  return "$n"
}

case "${1:-}" in
  stage)
    found=0
    for d in bench/gpu/.kit/call*; do
      [ -d "$d" ] || continue
      cp "$d"/*.sha256 "$STORE/"
      for f in "$d"/*.part*; do cp "$f" "$STORE/pieces/"; echo "staged $(basename "$f")"; found=1; done
    done
    [ "$found" = 1 ] || echo "stage: no bench/gpu/.kit/callN folder was carried"
    [ -f "$STORE/MANIFEST.sha256" ] || { echo "stage: no manifest yet"; exit 1; }
    if missing "$STORE/MANIFEST.sha256"; then echo "stage: all pieces here; next: run"; else echo "stage: carry the folders holding the pieces above (if the machine was recycled, every folder again)"; fi
    ;;
  run)
    shift
    [ -f "$STORE/MANIFEST.sha256" ] || { echo "run: nothing staged (the machine was recycled?): stage every call folder again" >&2; exit 1; }
    missing "$STORE/MANIFEST.sha256" || { echo "run: pieces missing (above): stage them first" >&2; exit 1; }
    (cd "$STORE/pieces" && sha256sum --quiet -c ../MANIFEST.sha256)
    for f in node.xz modules.tar.xz provider.tar.xz; do cat "$STORE/pieces/$f".part* > "$STORE/$f"; done
    (cd "$STORE" && sha256sum --quiet -c WHOLE.sha256)
    APP=$STORE/app
    rm -rf "$APP" && mkdir -p "$APP/bin" "$STORE/bin"
    tar --exclude=./node_modules --exclude=./.git --exclude=./bench/gpu/.kit --exclude=./scripts/.venv -cf - . | tar -C "$APP" -xf -
    xz -dc "$STORE/node.xz" > "$STORE/bin/node" && chmod +x "$STORE/bin/node"
    xz -dc "$STORE/modules.tar.xz" | tar -C "$APP" -xf -
    xz -dc "$STORE/provider.tar.xz" | tar -C "$APP/node_modules/onnxruntime-node/bin/napi-v6/linux/x64" -xf -
    # the CUDA 13 libraries of the machine's PyTorch (nvidia-* wheels in its site-packages)
    NV=$("$PYTHON" -c 'import glob, os
try:
    import nvidia
    print(":".join(sorted(d for p in nvidia.__path__ for d in glob.glob(os.path.join(p, "*", "lib")))))
except ImportError:
    print("")')
    export LD_LIBRARY_PATH="${NV}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PATH="$STORE/bin:$PATH"
    cd "$APP"
    echo "node $(node --version); LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    node bin/ko-rerank.mjs cuda-check || echo "cuda-check failed: the CUDA provider cannot load here (above)"
    exec "$PYTHON" bench/gpu/measure.py --node "$STORE/bin/node" --out-dir "${OUT:?OUT is where the results go}" "$@"
    ;;
  *)
    echo "usage: bash bench/gpu/device.sh stage | run [measure.py args]" >&2
    exit 2
    ;;
esac
