#!/bin/sh
# Keeps only the linux-x64 (glibc) binaries of the native packages in a production node_modules: the images are
# linux/amd64, and onnxruntime-node and tokenizers ship every platform's binaries in their npm packages (about 245 MB
# and 64 MB of them for other platforms). Fails when the linux-x64 ones are not there afterwards.
# usage: prune-native.sh NODE_MODULES_DIR        (the Dockerfile's deps stage)
set -eu
nm=${1:?usage: prune-native.sh NODE_MODULES_DIR}
ort=$nm/onnxruntime-node/bin/napi-v6
for d in "$ort"/*/*; do
  [ "$d" = "$ort/linux/x64" ] || rm -rf "$d"
done
for d in "$ort"/*; do
  [ "$d" = "$ort/linux" ] || rm -rf "$d"
done
for f in "$nm"/tokenizers/tokenizers.*.node; do
  [ "$f" = "$nm/tokenizers/tokenizers.linux-x64-gnu.node" ] || rm -f "$f"
done
test -f "$ort/linux/x64/onnxruntime_binding.node"
test -f "$nm/tokenizers/tokenizers.linux-x64-gnu.node"
echo "prune-native: kept $(ls "$ort/linux/x64" | tr '\n' ' ')and tokenizers.linux-x64-gnu.node"
