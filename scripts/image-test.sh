#!/usr/bin/env bash
# The container images, built and started for real (CI: a `step` of .ci/run). As root, on a machine with the package
# registries (npm, PyPI, Debian, the Go module proxy) and perhaps no container registry:
#   - a Docker engine: Debian's docker.io installed when there is no docker, dockerd started when none answers (and
#     stopped again at the end);
#   - the bases: pulled when the registry answers, else local stand-ins (scripts/docker-standins/build-standins.sh);
#   - the `cpu`, `gpu` and `export` targets of the Dockerfile, unchanged but for the base build args (and EXTRA_CA_CERT,
#     this machine's TLS-intercepting CA when it has one), with the legacy builder and --network host;
#   - then runs them: cpu (README's rerank example through a published port, non-root, read-only root, HEALTHCHECK
#     healthy); gpu (build-time provider check, DEVICE=auto on a machine without a GPU: serves on CPU with one warning
#     and no onnxruntime error text; DEVICE=cuda: exits non-zero with one line; the entrypoint's CUDA
#     forward-compatibility decision against stand-in driver versions); export (a seeded random checkpoint -> a model
#     directory that the cpu image serves); SageMaker (`docker run IMAGE serve`, the model in /opt/ml/model without
#     MODEL_DIR, SAGEMAKER_BIND_TO_PORT: /ping and the seed's /invocations payload); docker compose (the defaults
#     serve; `docker compose down` drains).
# Closes on "image-test: N passed, N failed, N skipped" (scripts/ci-tally.mjs adds it up); exit 1 when any failed.
# Image sizes go to stdout too (docs/deploy.md records them).
# Env: KO_RERANK_STANDINS=1 forces the stand-ins; KO_RERANK_CACHE (default /var/cache/ko-rerank) holds the caches.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d /tmp/ko-rerank-image-test.XXXXXX)
chmod 755 "$WORK"
PASSED=0 FAILED=0 SKIPPED=0
STARTED_DOCKERD=""
CONTAINERS=()
COMPOSE_ARGS=()

ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
bad() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "ok - $* # SKIP"; }
check() { # check NAME COMMAND...: one test, passed when the command succeeds
  local name=$1; shift
  if "$@"; then ok "$name"; else bad "$name"; fi
}
log() { echo "# $*"; }

cleanup() {
  for c in "${CONTAINERS[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
  if [ ${#COMPOSE_ARGS[@]} -gt 0 ]; then "${COMPOSE_ARGS[@]}" down -v --timeout 5 >/dev/null 2>&1; fi
  # earlier builds of the ko-rerank:* tags, now untagged (the build cache stays)
  docker image prune -f >/dev/null 2>&1
  if [ -n "$STARTED_DOCKERD" ]; then
    kill "$STARTED_DOCKERD" 2>/dev/null
    for _ in $(seq 30); do kill -0 "$STARTED_DOCKERD" 2>/dev/null || break; sleep 1; done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

finish() {
  echo "image-test: $PASSED passed, $FAILED failed, $SKIPPED skipped"
  [ "$FAILED" -eq 0 ]
  exit $?
}

# ---- a Docker engine ---------------------------------------------------------------------------------------------
if ! command -v docker >/dev/null || ! command -v dockerd >/dev/null; then
  log "installing docker.io (Debian)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: $WORK/dockerd.log)"
  setsid dockerd >"$WORK/dockerd.log" 2>&1 &
  STARTED_DOCKERD=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
if ! docker info >/dev/null 2>&1; then
  bad "a Docker engine answers"
  tail -20 "$WORK/dockerd.log" 2>/dev/null | sed 's/^/#   /'
  finish
fi
ok "a Docker engine answers ($(docker version -f '{{.Server.Version}}' 2>/dev/null), $(docker info -f '{{.Driver}}' 2>/dev/null))"

# ---- the bases ----------------------------------------------------------------------------------------------------
arg_default() { sed -n "s/^ARG $1=//p" Dockerfile | head -1; }
NODE_IMAGE=$(arg_default NODE_IMAGE) CUDA_IMAGE=$(arg_default CUDA_IMAGE) DEBIAN_IMAGE=$(arg_default DEBIAN_IMAGE)
if [ "${KO_RERANK_STANDINS:-}" != 1 ] && timeout 60 docker pull -q "$NODE_IMAGE" >/dev/null 2>&1 \
  && timeout 900 docker pull -q "$DEBIAN_IMAGE" >/dev/null 2>&1 && timeout 1800 docker pull -q "$CUDA_IMAGE" >/dev/null 2>&1; then
  BASES="the real base images ($NODE_IMAGE, $CUDA_IMAGE, $DEBIAN_IMAGE)"
else
  log "no container registry (or KO_RERANK_STANDINS=1): building local stand-ins"
  if ! bash scripts/docker-standins/build-standins.sh >"$WORK/standins.env" 2>"$WORK/standins.log"; then
    bad "stand-in base images build"
    tail -30 "$WORK/standins.log" | sed 's/^/#   /'
    finish
  fi
  sed 's/^/# /' "$WORK/standins.log"
  # shellcheck disable=SC1091
  . "$WORK/standins.env"
  BASES="local stand-ins ($NODE_IMAGE, $CUDA_IMAGE, $DEBIAN_IMAGE)"
  ok "stand-in base images"
fi
log "bases: $BASES"

# ---- build the three targets --------------------------------------------------------------------------------------
EXTRA_CA=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true)
build() { # build TARGET TAG
  local start=$SECONDS
  if DOCKER_BUILDKIT=0 docker build --network host --target "$1" -t "$2" \
    --build-arg NODE_IMAGE="$NODE_IMAGE" --build-arg CUDA_IMAGE="$CUDA_IMAGE" --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" \
    --build-arg EXTRA_CA_CERT="$EXTRA_CA" . >"$WORK/build-$1.log" 2>&1; then
    ok "build --target $1 ($((SECONDS - start)) s)"
  else
    bad "build --target $1"
    tail -40 "$WORK/build-$1.log" | sed 's/^/#   /'
    return 1
  fi
}
build cpu ko-rerank:cpu || finish
build gpu ko-rerank:gpu || finish
build export ko-rerank:export || finish
# the gpu build runs `cuda-check --skip-driver` (and ldd) and fails on a missing library; a cached build prints
# nothing of it, so run the same check in the image
provider_check() {
  docker run --rm ko-rerank:gpu cuda-check --skip-driver >"$WORK/cuda-check.log" 2>&1 && grep -q 'cuda-check: ok' "$WORK/cuda-check.log"
}
check "gpu: the build-time CUDA provider check (cuda-check --skip-driver) passes in the image" provider_check
sed 's/^/#   /' "$WORK/cuda-check.log" | cut -c1-300
size_mb() { docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%d", $1 / 1000000 }'; }
for t in cpu gpu export; do log "image size ko-rerank:$t $(size_mb ko-rerank:$t) MB"; done
no_other_platforms() {
  local left
  left=$(docker run --rm --entrypoint sh "$1" -c 'ls /app/node_modules/onnxruntime-node/bin/napi-v6/; ls /app/node_modules/onnxruntime-node/bin/napi-v6/linux; ls /app/node_modules/tokenizers/ | grep "\.node$"' | tr '\n' ' ')
  [ "$left" = "linux x64 tokenizers.linux-x64-gnu.node " ] || { echo "# native binaries left: $left"; return 1; }
}
check "cpu: only the linux-x64 native binaries" no_other_platforms ko-rerank:cpu
check "gpu: only the linux-x64 native binaries" no_other_platforms ko-rerank:gpu
node_major() { docker run --rm --entrypoint node "$1" -p 'process.versions.node.split(".")[0]'; }
want_node=$(node -p 'require("./package.json").engines.node.match(/\d+/)[0]')
check "cpu and gpu images run Node $want_node (package.json engines)" \
  test "$(node_major ko-rerank:cpu) $(node_major ko-rerank:gpu)" = "$want_node $want_node"
no_extra_ca_in_image() { # the build-time CA is not in the images' trust stores or files
  [ -z "$EXTRA_CA" ] && return 0
  local fp
  fp=$(printf '%s\n' "$EXTRA_CA" | sed -n '2p')
  for t in cpu gpu export; do
    # where the build steps run (the stand-in bases themselves carry this machine's CA in /etc/ssl and
    # /usr/local/share/ca-certificates, so those are not searched)
    found=$(docker run --rm --user 0 --entrypoint sh "ko-rerank:$t" -c "grep -rlF '$fp' /tmp /app /opt/ko-rerank /root 2>/dev/null | head -1")
    if [ -n "$found" ]; then
      echo "# ko-rerank:$t holds the build-time CA in $found"; return 1
    fi
  done
}
check "EXTRA_CA_CERT is not left in the images' files" no_extra_ca_in_image

# ---- helpers to run containers ------------------------------------------------------------------------------------
run_bg() { # run_bg NAME DOCKER_RUN_ARGS...: start detached, remember it for cleanup
  local name=$1; shift
  docker rm -f "$name" >/dev/null 2>&1
  CONTAINERS+=("$name")
  docker run -d --name "$name" "$@" >/dev/null
}
host_port() { docker port "$1" "$2" | head -1 | sed 's/.*://'; }
wait_http() { # wait_http URL SECONDS: until it answers 200
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0
    sleep 1
  done
  return 1
}
wait_healthy() { # wait_healthy CONTAINER SECONDS
  local end=$((SECONDS + $2)) s
  while [ $SECONDS -lt $end ]; do
    s=$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)
    [ "$s" = healthy ] && return 0
    [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ] || return 1
    sleep 2
  done
  return 1
}
post() { curl -s -H 'content-type: application/json' -d "$2" "$1"; }
RERANK_BODY=$(python3 - "$ROOT/README.md" <<'EOF'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
section = text[text.index("## Rerank"):]
m = re.search(r"-d '(\{.*?\})'\n```", section, re.S)
print(m.group(1))
EOF
)
README_JSON=$(python3 - "$ROOT/README.md" <<'EOF'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
section = text[text.index("## Rerank"):]
print(re.search(r"```json\n(.*?)\n```", section, re.S).group(1))
EOF
)
same_as_readme() { # the response has README's results (indices, documents; logits within 1e-3)
  python3 - "$1" "$README_JSON" <<'EOF'
import json, sys
got, want = json.loads(sys.argv[1]), json.loads(sys.argv[2])
g, w = got["results"], want["results"]
assert [r["index"] for r in g] == [r["index"] for r in w], (g, w)
assert [r["document"] for r in g] == [r["document"] for r in w]
assert all(abs(a["logit"] - b["logit"]) < 1e-3 for a, b in zip(g, w)), [(a["logit"], b["logit"]) for a, b in zip(g, w)]
EOF
}

# ---- cpu: README's example through a port, non-root, read-only root, healthy -------------------------------------
if run_bg krt-cpu --read-only --tmpfs /tmp -p 127.0.0.1::8080 ko-rerank:cpu; then
  P=$(host_port krt-cpu 8080)
  check "cpu: HEALTHCHECK turns healthy (read-only root, tmpfs /tmp)" wait_healthy krt-cpu 180
  RES=$(post "http://127.0.0.1:$P/rerank" "$RERANK_BODY")
  check "cpu: README's rerank example through the published port gives README's answer" same_as_readme "$RES"
  check "cpu: runs as uid 10001, not root" test "$(docker exec krt-cpu id -u)" = 10001
  # /models belongs to uid 10001: only the read-only root stops a write there; /tmp (tmpfs) stays writable
  check "cpu: the root filesystem is read-only, /tmp writable" \
    sh -c '! docker exec krt-cpu touch /models/x 2>/dev/null && docker exec krt-cpu touch /tmp/x'
  docker logs krt-cpu >"$WORK/cpu.log" 2>&1
  check "cpu: no probe request logged at info" sh -c "! grep -E '\"url\":\"/(ready|health|ping|metrics)' '$WORK/cpu.log' | grep -q '\"level\":30'"
  docker rm -f krt-cpu >/dev/null
else
  bad "cpu: container starts"
fi

# ---- gpu image on a machine without a GPU ---------------------------------------------------------------------------
if run_bg krt-gpu-auto --read-only --tmpfs /tmp -p 127.0.0.1::8080 ko-rerank:gpu; then
  P=$(host_port krt-gpu-auto 8080)
  if wait_http "http://127.0.0.1:$P/ready" 180; then
    RES=$(post "http://127.0.0.1:$P/rerank" "$RERANK_BODY")
    check "gpu, DEVICE=auto without a GPU: serves README's example on CPU" same_as_readme "$RES"
    check "gpu, DEVICE=auto: /info says provider cpu" sh -c "curl -s http://127.0.0.1:$P/info | grep -q '\"provider\":\"cpu\"'"
  else
    bad "gpu, DEVICE=auto without a GPU: ready within 180 s"
  fi
  docker logs krt-gpu-auto >"$WORK/gpu-auto.log" 2>&1
  warnings=$(grep -c '"level":40' "$WORK/gpu-auto.log")
  check "gpu, DEVICE=auto: exactly one warning ($warnings)" test "$warnings" = 1
  grep '"level":40' "$WORK/gpu-auto.log" | cut -c1-300 | sed 's/^/#   /'
  check "gpu, DEVICE=auto: no onnxruntime error text" \
    sh -c "! grep -Eiq '\\[E:onnxruntime|onnxruntime::|LoadLibrary|Failed to load library' '$WORK/gpu-auto.log'"
  docker rm -f krt-gpu-auto >/dev/null
else
  bad "gpu, DEVICE=auto: container starts"
fi
# stdout carries the JSON log (its fatal entry included); stderr the one line for whoever started it
docker run --rm -e DEVICE=cuda ko-rerank:gpu >"$WORK/gpu-cuda.out" 2>"$WORK/gpu-cuda.err"
rc=$?
lines=$(grep -c . "$WORK/gpu-cuda.err")
check "gpu, DEVICE=cuda without a GPU: exits non-zero ($rc)" test "$rc" -ne 0
check "gpu, DEVICE=cuda: one line on stderr ($lines), naming the cause" \
  sh -c "[ $lines = 1 ] && grep -q 'DEVICE=cuda but the CUDA execution provider cannot load: no NVIDIA driver' '$WORK/gpu-cuda.err'"
sed 's/^/#   /' "$WORK/gpu-cuda.err" | cut -c1-400

# the entrypoint's CUDA forward-compatibility decision, with stand-in drivers and compat libraries
mkdir -p "$WORK/fake/compat"
: >"$WORK/fake/compat/libcuda.so.580.65.06"
compat_choice() { # compat_choice DRIVER_VERSION: prints the LD_LIBRARY_PATH the entrypoint hands to the command
  echo "NVRM version: NVIDIA UNIX x86_64 Kernel Module  $1  Sun May 12 19:39:15 UTC 2024" >"$WORK/fake/version"
  docker run --rm -v "$WORK/fake:/fake:ro" -e KO_RERANK_DRIVER_VERSION_FILE=/fake/version \
    -e KO_RERANK_CUDA_COMPAT_DIR=/fake/compat ko-rerank:gpu sh -c 'echo "$LD_LIBRARY_PATH"' 2>/dev/null
}
check "gpu entrypoint: driver 535.183.01 < compat 580.65.06 puts the compat libraries first" \
  sh -c "[ \"\$(echo '$(compat_choice 535.183.01)' | cut -d: -f1)\" = /fake/compat ]"
check "gpu entrypoint: driver 580.95.05 leaves the loader path alone" \
  sh -c "! echo '$(compat_choice 580.95.05)' | grep -q /fake/compat"

# ---- export: a seeded random checkpoint -> a model directory the cpu image serves ---------------------------------
mkdir -p "$WORK/ckpt" "$WORK/models"
chmod 777 "$WORK/ckpt" "$WORK/models"
if docker run --rm --user 10001:10001 -v "$ROOT/models/ko-reranker-tiny:/tok:ro" -v "$WORK/ckpt:/ckpt" \
  --entrypoint /opt/ko-rerank/scripts/.venv/bin/python ko-rerank:export \
  /opt/ko-rerank/scripts/docker-standins/random_checkpoint.py /tok /ckpt/random >"$WORK/ckpt.log" 2>&1; then
  ok "export image: a seeded random checkpoint"
else
  bad "export image: a seeded random checkpoint"; sed 's/^/#   /' "$WORK/ckpt.log" | tail -20
fi
if docker run --rm --user 10001:10001 -v "$WORK/ckpt/random:/in:ro" -v "$WORK/models:/out" ko-rerank:export \
  /in --out /out/random >"$WORK/export.log" 2>&1; then
  ok "export image: checkpoint -> model directory (export_onnx.py CHECKPOINT --out DIR)"
else
  bad "export image: checkpoint -> model directory"; sed 's/^/#   /' "$WORK/export.log" | tail -20
fi
distinct_scores() { # two pairs, finite logits that differ
  python3 - "$1" <<'EOF'
import json, math, sys
r = json.loads(sys.argv[1])["results"]
logits = sorted(x["logit"] for x in r)
assert len(logits) == 3 and all(math.isfinite(v) for v in logits), r
assert logits[-1] - logits[0] > 0.05, logits
EOF
}
THREE='{"query":"대한민국의 수도는 어디인가요?","passages":["부산은 대한민국 남동부에 있는 항구 도시이다.","서울은 대한민국의 수도이자 최대 도시이다.","김치는 배추와 고춧가루로 만드는 한국의 전통 음식이다."]}'
if run_bg krt-exported --read-only --tmpfs /tmp -p 127.0.0.1::8080 -v "$WORK/models/random:/models/random:ro" \
  -e MODEL_DIR=/models/random ko-rerank:cpu; then
  P=$(host_port krt-exported 8080)
  if wait_http "http://127.0.0.1:$P/ready" 120; then
    check "cpu image serves the exported model (distinct finite logits)" distinct_scores "$(post "http://127.0.0.1:$P/rerank" "$THREE")"
  else
    bad "cpu image serves the exported model: ready within 120 s"; docker logs krt-exported 2>&1 | tail -5 | sed 's/^/#   /'
  fi
  docker rm -f krt-exported >/dev/null
fi

# ---- SageMaker: docker run IMAGE serve, /opt/ml/model without MODEL_DIR, SAGEMAKER_BIND_TO_PORT ---------------------
SEED_PAYLOAD='{"inputs":[{"text":"나는 너를 싫어해","text_pair":"나는 너를 사랑해"},{"text":"나는 너를 좋아해","text_pair":"너에 대한 나의 감정은 사랑 일 수도 있어"}]}'
sagemaker_answer() {
  python3 - "$1" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
assert isinstance(r, list) and len(r) == 2 and all(0 <= x["score"] <= 1 and "label" in x for x in r), r
assert abs(r[0]["score"] - r[1]["score"]) > 1e-3, r
EOF
}
if run_bg krt-sagemaker -p 127.0.0.1::8089 -e SAGEMAKER_BIND_TO_PORT=8089 -v "$WORK/models/random:/opt/ml/model:ro" \
  ko-rerank:gpu serve; then
  P=$(host_port krt-sagemaker 8089)
  if wait_http "http://127.0.0.1:$P/ping" 180; then
    ok "SageMaker: /ping answers 200 on SAGEMAKER_BIND_TO_PORT"
    check "SageMaker: the model in /opt/ml/model is served without MODEL_DIR" \
      sh -c "curl -s http://127.0.0.1:$P/info | grep -q '\"model_dir\":\"/opt/ml/model\"'"
    check "SageMaker: the seed's /invocations payload" sagemaker_answer "$(post "http://127.0.0.1:$P/invocations" "$SEED_PAYLOAD")"
  else
    bad "SageMaker: /ping within 180 s"; docker logs krt-sagemaker 2>&1 | tail -5 | sed 's/^/#   /'
  fi
  docker rm -f krt-sagemaker >/dev/null
fi

# ---- docker compose: the defaults serve, down drains -----------------------------------------------------------------
if COMPOSE=$(bash scripts/docker-standins/ensure-compose.sh 2>"$WORK/compose-install.log"); then
  ok "a Compose v2 CLI ($($COMPOSE version --short 2>/dev/null))"
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
  GPU_PORT=$(free_port) CPU_PORT=$(free_port)
  # Only what this machine forces: loopback ports, and for the GPU service no device reservation (no NVIDIA runtime
  # here) and DEVICE=auto instead of cuda. The model settings stay compose's defaults.
  cat >"$WORK/compose.override.yml" <<EOF
services:
  ko-rerank:
    ports: !override ["127.0.0.1:$GPU_PORT:8080"]
    environment:
      DEVICE: auto
    deploy: !reset {}
  ko-rerank-cpu:
    ports: !override ["127.0.0.1:$CPU_PORT:8080"]
EOF
  # shellcheck disable=SC2206
  COMPOSE_ARGS=($COMPOSE -p "krt$$" -f "$ROOT/docker-compose.yml" -f "$WORK/compose.override.yml" --profile cpu)
  if env -u MODEL_DIR -u MODEL_FILE "${COMPOSE_ARGS[@]}" up -d --no-build --pull never --wait --wait-timeout 240 \
    ko-rerank ko-rerank-cpu >"$WORK/compose-up.log" 2>&1; then
    ok "docker compose up (defaults): both services healthy"
  else
    bad "docker compose up (defaults): both services healthy"; tail -20 "$WORK/compose-up.log" | sed 's/^/#   /'
    "${COMPOSE_ARGS[@]}" logs --no-color 2>&1 | tail -20 | sed 's/^/#   /'
  fi
  check "compose ko-rerank (gpu image): README's example" same_as_readme "$(post "http://127.0.0.1:$GPU_PORT/rerank" "$RERANK_BODY")"
  check "compose ko-rerank-cpu: README's example" same_as_readme "$(post "http://127.0.0.1:$CPU_PORT/rerank" "$RERANK_BODY")"
  "${COMPOSE_ARGS[@]}" logs -f --no-color >"$WORK/compose.log" 2>&1 &
  LOGS_PID=$!
  sleep 1
  "${COMPOSE_ARGS[@]}" down -v --timeout 30 >"$WORK/compose-down.log" 2>&1
  down_rc=$?
  sleep 1; kill "$LOGS_PID" 2>/dev/null; wait "$LOGS_PID" 2>/dev/null
  COMPOSE_ARGS=()
  check "docker compose down exits 0" test "$down_rc" = 0
  drained=$(grep -c 'drained; exiting' "$WORK/compose.log")
  check "docker compose down: both services drained and exited ($drained 'drained; exiting')" test "$drained" = 2
else
  bad "a Compose v2 CLI"; tail -20 "$WORK/compose-install.log" | sed 's/^/#   /'
fi

log "bases: $BASES"
finish
