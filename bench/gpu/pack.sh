#!/usr/bin/env bash
# GPU kit, packing (here): what the GPU machine lacks (a Node binary, the production node_modules, onnxruntime-node's
# CUDA provider), compressed, split and grouped into call-sized folders bench/gpu/.kit/callN/ (git-ignored), each
# with MANIFEST.sha256. A device call carries one folder: the working tree plus the folder must stay under 64 MiB.
# usage: bash bench/gpu/pack.sh        then follow bench/gpu/README.md
set -euo pipefail
cd "$(dirname "$0")/../.."
KIT=bench/gpu/.kit
rm -rf "$KIT"
mkdir -p "$KIT/build/app" "$KIT/pieces"
LIMIT=$((64 * 1024 * 1024))
# what travels anyway: tracked files and untracked files git does not ignore
TREE=$({ git ls-files -z; git ls-files -z -o --exclude-standard; } | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
ROOM=$((LIMIT - TREE - 2 * 1024 * 1024))
if [ "$ROOM" -lt $((8 * 1024 * 1024)) ]; then
  echo "pack: the working tree is $((TREE / 1048576)) MiB; under 8 MiB would be left per call. Run the kit from a branch" >&2
  echo "      without the big model files (bench/gpu/README.md, step 1) and pack again." >&2
  exit 1
fi
echo "pack: working tree $((TREE / 1048576)) MiB, $((ROOM / 1048576)) MiB per call for the kit"

xz -T0 -6 -c "$(command -v node)" > "$KIT/build/node.xz"
# production dependencies only, no install scripts; onnxruntime-node's binaries for linux/x64 only. tsx too (a
# devDependency, moved in the kit's copy of package.json; npm ci takes the lock as is): the kit runs the sources.
cp package.json package-lock.json "$KIT/build/app/"
(cd "$KIT/build/app" \
  && node -e "const fs = require('fs'); const p = JSON.parse(fs.readFileSync('package.json', 'utf8'));
      p.dependencies.tsx = p.devDependencies.tsx; delete p.devDependencies.tsx;
      fs.writeFileSync('package.json', JSON.stringify(p, null, 2) + '\n');" \
  && ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
BIN="$KIT/build/app/node_modules/onnxruntime-node/bin/napi-v6"
find "$BIN" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
find "$BIN/linux" -mindepth 1 -maxdepth 1 ! -name x64 -exec rm -rf {} +
tar -C "$KIT/build/app" -cf - node_modules | xz -T0 -6 > "$KIT/build/modules.tar.xz"
bash scripts/install-cuda-provider.sh pypi --dest "$KIT/build/provider" ${WHEEL:+--wheel "$WHEEL"}
tar -C "$KIT/build/provider" -cf - . | xz -T0 -6 > "$KIT/build/provider.tar.xz"

for f in node.xz modules.tar.xz provider.tar.xz; do
  split -b "$ROOM" -d -a 2 "$KIT/build/$f" "$KIT/pieces/$f.part"
done
(cd "$KIT/build" && sha256sum node.xz modules.tar.xz provider.tar.xz) > "$KIT/WHOLE.sha256"
(cd "$KIT/pieces" && sha256sum -- *) > "$KIT/MANIFEST.sha256"
# first fit: pieces into call folders of at most ROOM bytes
call=0; used=$ROOM
for piece in $(cd "$KIT/pieces" && ls -S); do
  size=$(stat -c %s "$KIT/pieces/$piece")
  if [ $((used + size)) -gt "$ROOM" ]; then call=$((call + 1)); used=0; mkdir -p "$KIT/call$call"; fi
  mv "$KIT/pieces/$piece" "$KIT/call$call/"; used=$((used + size))
done
for d in "$KIT"/call*; do cp "$KIT/MANIFEST.sha256" "$KIT/WHOLE.sha256" "$d/"; done
rm -rf "$KIT/build" "$KIT/pieces"
echo "pack: $call calls:"
for d in "$KIT"/call*; do echo "  $d: $(du -sh "$d" | cut -f1) ($(ls "$d" | grep -c part) pieces)"; done
