# syntax=docker/dockerfile:1
# ko-rerank container images. Targets (`docker build --target NAME`):
#   gpu     (default, last stage) CUDA 13 + cuDNN 9 runtime, Node 24, onnxruntime-node with its CUDA execution provider
#   cpu     Node 24 slim, onnxruntime-node's bundled CPU binaries only
#   export  Debian's python3-torch + scripts/export_onnx.py: Hugging Face cross-encoder checkpoint -> served model directory
# Both server images hold the embedded model (models/ko-reranker-small); mount a real model and set MODEL_DIR.
# They run the compiled JavaScript (dist/, built in the build stage) on node with production dependencies only, with
# only the linux-x64 binaries of the native packages (docker/prune-native.sh).
# docker/entrypoint.sh starts them: CUDA forward compatibility on older drivers, SageMaker's /opt/ml/model, then
# `node /app/dist/main.js serve` (docs/deploy.md "Containers"). HOME and the CUDA cache are under /tmp, so a
# read-only root with a tmpfs on /tmp works (compose and the Kubernetes manifests mount one).
# /models (owned by the app user, uid 10001) is the mount point for real models in compose and Kubernetes.
# `docker run IMAGE` and `docker run IMAGE serve` (what SageMaker runs) both start the server on :8080.
# Checked by test/deploy/dockerfile.test.ts (pinned bases, non-root, HEALTHCHECK, EXPOSE, install mode, node on dist/)
# and built and run by scripts/image-test.sh (CI).

# Bases are pinned by exact tag; no digest is pinned here because none could be verified from the build machine (no
# container registry: CI builds against local stand-ins, scripts/docker-standins/build-standins.sh). Pin one with
# `--build-arg CUDA_IMAGE=nvidia/cuda:<tag>@sha256:<digest>` (see README "Deploy").
# onnxruntime 1.27+ GPU builds are CUDA 13: 1.30's CUDA provider has DT_NEEDED libcudart.so.13, libcublas.so.13,
# libcublasLt.so.13, libcurand.so.10 and loads libcudnn.so.9 at run time (read off the onnxruntime-gpu 1.30.0 wheel;
# scripts/check-cuda-provider.ts fails when CUDA_IMAGE's major differs). CUDA 13.0 needs an NVIDIA driver >= 580, or an
# older data-center driver through the cuda-compat libraries that nvidia/cuda images carry (docker/entrypoint.sh).
ARG NODE_IMAGE=node:24.22.3-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04
# Where the CUDA provider libraries come from (scripts/install-cuda-provider.sh): pypi (the hash-pinned onnxruntime-gpu
# wheel, scripts/cuda-provider/requirements.txt) or nuget (onnxruntime-node's own install script, api.nuget.org).
ARG ONNXRUNTIME_CUDA_SOURCE=pypi
ARG DEBIAN_IMAGE=debian:12.11-slim
# Behind a TLS-intercepting proxy: `--build-arg EXTRA_CA_CERT="$(cat proxy-ca.pem)"` (PEM text). The build steps that
# reach npm and PyPI trust it (NODE_EXTRA_CA_CERTS, PIP_CERT) from a file that the same step deletes, so it is in no
# image's files or trust store (the export image's build history records build-arg values, as Docker does for any).
ARG EXTRA_CA_CERT=

# ---- production dependencies, no install scripts -------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
ARG EXTRA_CA_CERT
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
COPY docker/prune-native.sh /usr/local/bin/
# --ignore-scripts: the same policy as package.json's allowScripts, made explicit for any npm that ignores allowScripts.
# Then only the linux-x64 binaries of onnxruntime-node and tokenizers are kept (docker/prune-native.sh).
RUN if [ -n "$EXTRA_CA_CERT" ]; then printf '%s\n' "$EXTRA_CA_CERT" > /tmp/extra-ca.pem; export NODE_EXTRA_CA_CERTS=/tmp/extra-ca.pem; fi \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force && rm -f /tmp/extra-ca.pem \
 && prune-native.sh node_modules

# ---- the compiled JavaScript: `npm run build` (tsc) with the dev dependencies, which stay in this stage --------------
FROM ${NODE_IMAGE} AS build
ARG EXTRA_CA_CERT
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN if [ -n "$EXTRA_CA_CERT" ]; then printf '%s\n' "$EXTRA_CA_CERT" > /tmp/extra-ca.pem; export NODE_EXTRA_CA_CERTS=/tmp/extra-ca.pem; fi \
 && npm ci --ignore-scripts --no-audit --no-fund && rm -f /tmp/extra-ca.pem
COPY src ./src
RUN npm run build

# ---- + onnxruntime-node's CUDA 13 execution provider --------------------------------------------------------------
FROM deps AS deps-cuda
ARG ONNXRUNTIME_CUDA_SOURCE
ARG EXTRA_CA_CERT
COPY scripts/install-cuda-provider.sh scripts/
COPY scripts/cuda-provider/ scripts/cuda-provider/
# pypi: pip download of the pinned wheel (its sha256 checked) and the two libraries taken out of it; nuget: the
# Microsoft.ML.OnnxRuntime.Gpu.Linux package of the same version. Either way the script checks that the provider
# version equals onnxruntime-node's and that both files arrived. python3-pip stays in this build stage only.
RUN if [ "$ONNXRUNTIME_CUDA_SOURCE" = pypi ]; then \
      apt-get update && apt-get install -y --no-install-recommends python3-pip ca-certificates && rm -rf /var/lib/apt/lists/*; \
    fi \
 && if [ -n "$EXTRA_CA_CERT" ]; then printf '%s\n' "$EXTRA_CA_CERT" > /tmp/extra-ca.pem; \
      export NODE_EXTRA_CA_CERTS=/tmp/extra-ca.pem PIP_CERT=/tmp/extra-ca.pem; fi \
 && bash scripts/install-cuda-provider.sh "$ONNXRUNTIME_CUDA_SOURCE" \
 && rm -rf /root/.cache /tmp/extra-ca.pem

# ---- the Node binary for the CUDA image -----------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS node

# ---- real-model export (README "Deploy"): docker run --rm --user "$(id -u):$(id -g)" \
#        -v "$PWD/ko-reranker:/in:ro" -v "$PWD/models:/out" IMAGE /in --out /out/ko-reranker --fp16
FROM ${DEBIAN_IMAGE} AS export
ARG EXTRA_CA_CERT
WORKDIR /opt/ko-rerank
COPY LICENSE NOTICE ./
# setup-python.sh: Debian's python3-torch/onnx/sentencepiece + a venv (scripts/.venv) with the PyPI packages of
# scripts/requirements.txt (copied first, so that a change elsewhere in scripts/ reuses this layer). The extra CA (if
# any) is a file of this step only.
COPY scripts/setup-python.sh scripts/requirements.txt scripts/
RUN if [ -n "$EXTRA_CA_CERT" ]; then printf '%s\n' "$EXTRA_CA_CERT" > /tmp/extra-ca.pem; export PIP_CERT=/tmp/extra-ca.pem; fi \
 && bash scripts/setup-python.sh && rm -rf /var/lib/apt/lists/* /root/.cache /tmp/extra-ca.pem
COPY scripts/ scripts/
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
# MODEL_DIR is left unset: the entrypoint picks /opt/ml/model (SageMaker) or the embedded model. HOME=/tmp: writable
# under a read-only root with a tmpfs on /tmp (the app user has no home directory).
ENV \
    HOST=0.0.0.0 PORT=8080 DEVICE=cpu HOME=/tmp NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json LICENSE NOTICE ./
COPY models/ko-reranker-small ./models/ko-reranker-small
COPY docker/entrypoint.sh /usr/local/bin/ko-rerank-entrypoint
USER 10001:10001
EXPOSE 8080
# /ready is 200 once the model is loaded and warmed up; node's fetch, so no curl in the image. The port follows the
# server's rule: SAGEMAKER_BIND_TO_PORT, when set, wins over PORT.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SAGEMAKER_BIND_TO_PORT||process.env.PORT||8080)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/local/bin/ko-rerank-entrypoint"]
CMD ["serve"]

# ---- GPU image (default target) -------------------------------------------------------------------------------------
FROM ${CUDA_IMAGE} AS gpu
COPY --from=node /usr/local/bin/node /usr/local/bin/node
RUN groupadd --system --gid 10001 korerank && useradd --system --uid 10001 --gid 10001 --no-create-home korerank \
 && mkdir -p /models && chown 10001:10001 /models
WORKDIR /app
# DEVICE=auto: CUDA when a GPU is visible (docker run --gpus all), CPU with a warning otherwise; compose and the
# Kubernetes manifests set DEVICE=cuda so a pod without a GPU fails instead of serving slowly.
# CUDA_CACHE_PATH: the CUDA JIT cache (PTX compiled for the GPU at hand) under /tmp, writable under a read-only root.
ENV \
    HOST=0.0.0.0 PORT=8080 DEVICE=auto HOME=/tmp NODE_ENV=production CUDA_CACHE_PATH=/tmp/cuda-cache
COPY --from=deps-cuda /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json LICENSE NOTICE ./
COPY models/ko-reranker-small ./models/ko-reranker-small
COPY docker/entrypoint.sh /usr/local/bin/ko-rerank-entrypoint
# Fail the build, not the pod, when the base lacks a library the provider needs: our own check (DT_NEEDED + the
# cuDNN it loads at run time, resolved as the loader would) and ldd's (recursive). libcuda.so.1 is the driver's,
# mounted by the NVIDIA Container Toolkit at run time, so it is the one library allowed to be missing here.
RUN node dist/main.js cuda-check --skip-driver \
 && ldd node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so > /tmp/ldd.txt \
 && if grep 'not found' /tmp/ldd.txt | grep -v 'libcuda\.so\.1'; then echo 'CUDA provider: libraries not found (above)' >&2; exit 1; fi \
 && rm /tmp/ldd.txt
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SAGEMAKER_BIND_TO_PORT||process.env.PORT||8080)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/local/bin/ko-rerank-entrypoint"]
CMD ["serve"]
