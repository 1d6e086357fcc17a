#!/bin/sh
# The entrypoint of the cpu and gpu images: `docker run IMAGE [serve|openapi|eval|cuda-check] [--flag value ...]`
# runs the server's CLI (node /app/dist/main.js); any other command (`docker run IMAGE sh`) runs as given.
# Before it starts node it settles two things that node cannot change for itself once running:
#  1. CUDA forward compatibility (gpu image). The CUDA 13 libraries need an NVIDIA driver >= 580. NVIDIA's cuda images
#     carry the cuda-compat package (a newer libcuda.so in /usr/local/cuda/compat) that lets them run on an older
#     driver of a data-center GPU. Since NVIDIA Container Toolkit 1.17.4 the toolkit no longer puts those libraries on
#     the loader path, so containers do it themselves (AWS SageMaker's "Updating inference containers to comply with
#     the NVIDIA Container Toolkit"). Rule, as in NVIDIA's own containers: when the kernel driver (from
#     /proc/driver/nvidia/version) is older than the compat libcuda (libcuda.so.<version> in the compat directory),
#     prepend the compat directory to LD_LIBRARY_PATH and say so on one line; otherwise (no driver visible, no compat
#     libraries, or a driver at least as new) change nothing and say nothing. KO_RERANK_CUDA_COMPAT=off disables it.
#  2. SageMaker's model location. SageMaker unpacks the model to /opt/ml/model and sets no MODEL_DIR: when MODEL_DIR
#     is unset and /opt/ml/model holds a model (config.json or onnx/), serve it; else the embedded model.
# KO_RERANK_DRIVER_VERSION_FILE, KO_RERANK_CUDA_COMPAT_DIR and KO_RERANK_SAGEMAKER_MODEL_DIR move those three paths
# (the tests use them; test/deploy/entrypoint.test.ts).
set -eu

version_file=${KO_RERANK_DRIVER_VERSION_FILE:-/proc/driver/nvidia/version}
compat_dir=${KO_RERANK_CUDA_COMPAT_DIR:-/usr/local/cuda/compat}
sagemaker_model=${KO_RERANK_SAGEMAKER_MODEL_DIR:-/opt/ml/model}

# "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.183.01  Sun ..." (or "... Open Kernel Module for x86_64 ...")
driver_version() {
  [ -r "$version_file" ] || return 0
  awk '/NVRM version/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+(\.[0-9]+)?$/) { print $i; exit } }' \
    "$version_file"
}
# libcuda.so.580.65.06 -> 580.65.06
compat_version() {
  for f in "$compat_dir"/libcuda.so.*.*; do
    [ -e "$f" ] || continue
    v=${f##*/libcuda.so.}
    case "$v" in *[!0-9.]*) continue ;; esac
    echo "$v"
    return 0
  done
}
# version_lt A B: A < B, comparing the dot-separated numbers (sort -V)
version_lt() {
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]
}

if [ "${KO_RERANK_CUDA_COMPAT:-auto}" != off ]; then
  driver=$(driver_version)
  compat=$(compat_version)
  if [ -n "$driver" ] && [ -n "$compat" ] && version_lt "$driver" "$compat"; then
    export LD_LIBRARY_PATH="$compat_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "ko-rerank: NVIDIA driver $driver is older than this image's CUDA needs; using CUDA forward compatibility (libcuda $compat from $compat_dir, data-center GPUs only)" >&2
  fi
fi

if [ -z "${MODEL_DIR:-}" ]; then
  if [ -f "$sagemaker_model/config.json" ] || [ -d "$sagemaker_model/onnx" ]; then
    MODEL_DIR=$sagemaker_model
  else
    MODEL_DIR=/app/models/ko-reranker-small
  fi
  export MODEL_DIR
fi

[ "$#" -gt 0 ] || set -- serve
case "$1" in
  serve | openapi | eval | cuda-check | -*) exec node /app/dist/main.js "$@" ;;
  *) exec "$@" ;;
esac
