# syntax=docker/dockerfile:1
# ko-rerank container images. Targets (`docker build --target NAME`):
#   gpu     (default, last stage) CUDA 12 + cuDNN 9 runtime, Node 20, onnxruntime-node with its CUDA execution provider
#   cpu     Node 20 slim, onnxruntime-node's bundled CPU binaries only
#   export  Debian's python3-torch + scripts/export_onnx.py: Hugging Face XLM-R checkpoint -> served model directory
# Both server images hold the embedded model (models/ko-reranker-small); mount a real model and set MODEL_DIR.
# /models (owned by the app user, uid 10001) is the mount point for real models in compose and Kubernetes.
# `docker run IMAGE` and `docker run IMAGE serve` (what SageMaker runs) both start the server on :8080.
# Checked by test/deploy/dockerfile.test.ts (pinned bases, non-root, HEALTHCHECK, EXPOSE, install mode).

# Bases are pinned by exact tag; no digest is pinned here because none could be verified from this build machine
# (no Docker engine). Pin one with `--build-arg CUDA_IMAGE=nvidia/cuda:<tag>@sha256:<digest>` (see README "Deploy").
# onnxruntime-node 1.30's CUDA provider is built for CUDA 12.x + cuDNN 9.x; any CUDA 12.x runtime works
# (NVIDIA minor-version compatibility). 12.8 supports Hopper and Blackwell and needs driver >= 570 (or >= 525 with
# minor-version compatibility).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ARG DEBIAN_IMAGE=debian:12.11-slim

# ---- production dependencies, no install scripts -------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
# --ignore-scripts: the same policy as package.json's allowScripts (npm >= 11.19), made explicit because the npm
# bundled with Node 20 (10.x) ignores allowScripts. esbuild and tokenizers get their binaries from optional packages.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- + onnxruntime-node's CUDA 12 execution provider (downloaded by its own install script) -------------------------
FROM deps AS deps-cuda
ENV ONNXRUNTIME_NODE_INSTALL=cuda12
# onnxruntime-node/script/install.js fetches libonnxruntime_providers_{cuda,shared,tensorrt}.so from the
# Microsoft.ML.OnnxRuntime.Gpu.Linux NuGet package (api.nuget.org) into bin/napi-v6/linux/x64/. In 1.30 the value
# "cuda12" falls through parseInstallFlag, which then uses the linux/x64 default manifest (cuda12) because the files
# are missing: same result. The build fails here if the libraries did not arrive (e.g. on linux/arm64, which has
# no CUDA manifest).
RUN node node_modules/onnxruntime-node/script/install.js \
 && for f in libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so; do \
      test -s "node_modules/onnxruntime-node/bin/napi-v6/linux/x64/$f" || { echo "missing $f" >&2; exit 1; }; \
    done

# ---- the Node binary for the CUDA image -----------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS node

# ---- real-model export (README "Deploy"): docker run --rm --user "$(id -u):$(id -g)" \
#        -v "$PWD/ko-reranker:/in:ro" -v "$PWD/models:/out" IMAGE /in --out /out/ko-reranker --fp16
FROM ${DEBIAN_IMAGE} AS export
WORKDIR /opt/ko-rerank
COPY scripts/ scripts/
# setup-python.sh: Debian's python3-torch/onnx/sentencepiece + a venv (scripts/.venv) with onnxruntime/tokenizers.
RUN bash scripts/setup-python.sh && rm -rf /var/lib/apt/lists/* /root/.cache
RUN groupadd --system --gid 10001 korerank && useradd --system --uid 10001 --gid 10001 --no-create-home korerank \
 && mkdir -p /models && chown 10001:10001 /models
ENV HOME=/tmp PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
ENTRYPOINT ["/opt/ko-rerank/scripts/.venv/bin/python", "/opt/ko-rerank/scripts/export_onnx.py"]
CMD ["--help"]

# ---- CPU image ------------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS cpu
RUN groupadd --system --gid 10001 korerank && useradd --system --uid 10001 --gid 10001 --no-create-home korerank \
 && mkdir -p /models && chown 10001:10001 /models
WORKDIR /app
ENV \
    HOST=0.0.0.0 PORT=8080 DEVICE=cpu MODEL_DIR=/app/models/ko-reranker-small
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY models/ko-reranker-small ./models/ko-reranker-small
USER 10001:10001
EXPOSE 8080
# /ready is 200 once the model is loaded and warmed up; node's fetch, so no curl in the image. The port follows the
# server's rule: SAGEMAKER_BIND_TO_PORT, when set, wins over PORT.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SAGEMAKER_BIND_TO_PORT||process.env.PORT||8080)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/ko-rerank.mjs"]
CMD ["serve"]

# ---- GPU image (default target) -------------------------------------------------------------------------------------
FROM ${CUDA_IMAGE} AS gpu
COPY --from=node /usr/local/bin/node /usr/local/bin/node
RUN groupadd --system --gid 10001 korerank && useradd --system --uid 10001 --gid 10001 --no-create-home korerank \
 && mkdir -p /models && chown 10001:10001 /models
WORKDIR /app
# DEVICE=auto: CUDA when a GPU is visible (docker run --gpus all), CPU with a warning otherwise; compose and the
# Kubernetes manifests set DEVICE=cuda so a pod without a GPU fails instead of serving slowly.
ENV \
    HOST=0.0.0.0 PORT=8080 DEVICE=auto MODEL_DIR=/app/models/ko-reranker-small
COPY --from=deps-cuda /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY models/ko-reranker-small ./models/ko-reranker-small
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SAGEMAKER_BIND_TO_PORT||process.env.PORT||8080)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/ko-rerank.mjs"]
CMD ["serve"]
