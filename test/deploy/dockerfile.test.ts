// The Dockerfile parses and follows the deployment rules in docs/deploy.md. Static checks only; scripts/image-test.sh
// (CI) builds and runs the images.
import { existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  ROOT,
  copyFromStages,
  dockerIgnored,
  execForm,
  imageRef,
  keyword,
  parseDockerfile,
  readRepoFile,
  type ParsedDockerfile,
  type Stage,
} from './lib.ts';

const SERVER_TARGETS = ['gpu', 'cpu'];
/**
 * The CUDA major onnxruntime-node 1.30's CUDA provider is built for;
 * scripts/check-cuda-provider.ts reads it off the binary.
 */
const PROVIDER_CUDA_MAJOR = 13;
const RUNTIME_TARGETS = [...SERVER_TARGETS, 'export'];
/** The Node major of package.json's engines: the images run it. */
const NODE_MAJOR = Number(/\d+/.exec(JSON.parse(readRepoFile('package.json')).engines.node)![0]);
/** The server images start through this script (docker/entrypoint.sh), which ends in `exec node /app/dist/main.js`. */
const ENTRYPOINT = '/usr/local/bin/ko-rerank-entrypoint';
const ENTRYPOINT_SOURCE = 'docker/entrypoint.sh';

function stage(df: ParsedDockerfile, name: string): Stage | undefined {
  return df.stages.find((s) => s.name === name);
}

/** The stage whose node_modules a runtime stage copies, followed to its origin. */
function nodeModulesSource(df: ParsedDockerfile, s: Stage): Stage | undefined {
  // flags are not part of getArgumentsContent(); toString() is the whole instruction
  const copy = keyword(s, 'COPY').find((i) => /--from=\S+\s+\S*node_modules/.test(i.toString()));
  const from = copy && /--from=(\S+)/.exec(copy.toString())?.[1];
  return from ? stage(df, from) : undefined;
}

/** The stage a runtime stage copies dist/ (the compiled JavaScript) from. */
function distSource(df: ParsedDockerfile, s: Stage): Stage | undefined {
  const copy = keyword(s, 'COPY').find((i) => /--from=\S+\s+\S*\/dist\b/.test(i.toString()));
  const from = copy && /--from=(\S+)/.exec(copy.toString())?.[1];
  return from ? stage(df, from) : undefined;
}

/** The RUN lines of a stage and of the stages it is built FROM. */
function runs(s: Stage | null): string[] {
  if (!s) return [];
  return [...runs(s.parent), ...keyword(s, 'RUN').map((i) => i.getArgumentsContent() ?? '')];
}

/** COPY sources from the build context (not --from another stage). */
function contextSources(s: Stage): string[] {
  return keyword(s, 'COPY')
    .filter((i) => !/--from=/.test(i.toString()))
    .flatMap((i) =>
      i
        .getArguments()
        .map((a) => a.getValue())
        .filter((a) => !a.startsWith('--'))
        .slice(0, -1),
    );
}

function finalUser(s: Stage): string | null {
  const users = keyword(s, 'USER');
  return users.length ? (users.at(-1)!.getArgumentsContent() ?? '').trim() : null;
}

/** Every rule the issue sets for the Dockerfile; [] when it follows them all. */
export function dockerfileViolations(text: string): string[] {
  const v: string[] = [];
  let df: ParsedDockerfile;
  try {
    df = parseDockerfile(text);
  } catch (err) {
    return [`does not parse: ${(err as Error).message}`];
  }
  if (df.stages.length === 0) return ['no FROM'];

  for (const s of df.stages) {
    if (s.parent) continue;
    const label = `stage ${s.name ?? '(unnamed)'}`;
    if (/\$/.test(s.from)) v.push(`${label}: FROM ${s.from} has an unresolved variable`);
    const ref = imageRef(s.from);
    if (!ref.tag && !ref.digest) v.push(`${label}: FROM ${s.from} is not pinned (no tag or digest)`);
    if (ref.tag === 'latest') v.push(`${label}: FROM ${s.from} uses latest`);
    // a moving major-only tag such as node:20 is not a pin either
    if (ref.tag && !ref.digest && !/\d+\.\d+/.test(ref.tag)) v.push(`${label}: FROM ${s.from} tag is not a version`);
  }

  for (const name of RUNTIME_TARGETS) {
    const s = stage(df, name);
    if (!s) {
      v.push(`no ${name} target`);
      continue;
    }
    const user = finalUser(s);
    if (!user) v.push(`${name}: no USER (runs as root)`);
    else if (/^(root|0)(:|$)/.test(user)) v.push(`${name}: USER ${user} is root`);
    if (!execForm(keyword(s, 'ENTRYPOINT').at(-1)?.getArgumentsContent() ?? null))
      v.push(`${name}: no exec-form ENTRYPOINT`);
    const sources = contextSources(s);
    if (!sources.includes('LICENSE') || !sources.includes('NOTICE'))
      v.push(`${name}: LICENSE and NOTICE are not copied in`);
  }

  if (df.stages.at(-1)?.name !== 'gpu') v.push('the default (last) target is not gpu');

  for (const name of SERVER_TARGETS) {
    const s = stage(df, name);
    if (!s) continue;
    if (!keyword(s, 'EXPOSE').some((i) => /(^|\s)8080(\/tcp)?(\s|$)/.test(i.getArgumentsContent() ?? '')))
      v.push(`${name}: no EXPOSE 8080`);
    const hc = keyword(s, 'HEALTHCHECK').at(-1)?.getArgumentsContent() ?? '';
    if (!hc) v.push(`${name}: no HEALTHCHECK`);
    else if (!/\bCMD\b/.test(hc) || !hc.includes('/ready')) v.push(`${name}: HEALTHCHECK does not probe /ready`);
    else if (/\bcurl\b|\bwget\b/.test(hc)) v.push(`${name}: HEALTHCHECK needs curl/wget, which the image lacks`);
    const entrypoint = execForm(keyword(s, 'ENTRYPOINT').at(-1)?.getArgumentsContent() ?? null) ?? [];
    const cmd = execForm(keyword(s, 'CMD').at(-1)?.getArgumentsContent() ?? null);
    // `docker run IMAGE serve` replaces CMD: the entrypoint must not carry the command itself.
    if (entrypoint.includes('serve'))
      v.push(`${name}: ENTRYPOINT includes serve, so \`docker run IMAGE serve\` would pass it twice`);
    if (JSON.stringify(cmd) !== '["serve"]') v.push(`${name}: CMD is not ["serve"]`);
    // Production runs the compiled JavaScript on plain node with production dependencies only: no tsx, no sources.
    // The entrypoint script (CUDA forward compatibility, SageMaker's model dir) ends in `exec node /app/dist/main.js`.
    if (JSON.stringify(entrypoint) !== JSON.stringify([ENTRYPOINT])) v.push(`${name}: ENTRYPOINT is not ${ENTRYPOINT}`);
    else if (
      !keyword(s, 'COPY').some((i) => (i.getArgumentsContent() ?? '').trim() === `${ENTRYPOINT_SOURCE} ${ENTRYPOINT}`)
    )
      v.push(`${name}: ${ENTRYPOINT} is not copied from ${ENTRYPOINT_SOURCE}`);
    if (s.env.get('HOME') !== '/tmp') v.push(`${name}: HOME is not /tmp (writable under a read-only root)`);
    const dist = distSource(df, s);
    if (!dist) v.push(`${name}: dist/ not copied from a build stage`);
    else if (!runs(dist).some((r) => /(^|\s)npm run build(\s|$)/.test(r)))
      v.push(`${name}: the stage dist/ comes from does not run npm run build`);
    const modules = nodeModulesSource(df, s);
    if (modules && !runs(modules).some((r) => /npm ci\b.*--omit=dev/.test(r)))
      v.push(`${name}: node_modules not installed with --omit=dev`);
    if (contextSources(s).some((a) => /^(\.\/)?src(\/|$)|\.ts$|^tsconfig/.test(a)))
      v.push(`${name}: copies the TypeScript sources`);
    if (s.instructions.some((i) => /\btsx\b/.test(i.toString()))) v.push(`${name}: uses tsx`);
    // MODEL_DIR stays unset in the image: the entrypoint picks SageMaker's /opt/ml/model or the embedded model.
    if (s.env.get('MODEL_DIR')) v.push(`${name}: sets MODEL_DIR, which hides SageMaker's /opt/ml/model`);
    const copiesModel = keyword(s, 'COPY').some((i) =>
      (i.getArgumentsContent() ?? '').includes('models/ko-reranker-small'),
    );
    if (!copiesModel) v.push(`${name}: the embedded model is not copied in`);
  }

  const gpu = stage(df, 'gpu');
  if (gpu) {
    const ref = imageRef(gpu.from);
    const cuda = new RegExp(`^${PROVIDER_CUDA_MAJOR}\\.\\d+(\\.\\d+)?-cudnn-runtime-ubuntu\\d+\\.\\d+$`);
    if (ref.name !== 'nvidia/cuda' || !cuda.test(ref.tag ?? '')) {
      v.push(
        `gpu: base ${gpu.from} is not an nvidia/cuda ${PROVIDER_CUDA_MAJOR}.x cuDNN 9 (-cudnn-runtime-) Ubuntu image`,
      );
    }
    if (
      !copyFromStages(gpu).some((f) => stage(df, f) && new RegExp(`^node:${NODE_MAJOR}\\.`).test(stage(df, f)!.from))
    ) {
      v.push(`gpu: Node ${NODE_MAJOR} is not copied in from a node:${NODE_MAJOR}.x stage`);
    }
    if (!/^\/tmp\//.test(gpu.env.get('CUDA_CACHE_PATH') ?? '')) v.push('gpu: CUDA_CACHE_PATH is not under /tmp');
    const src = nodeModulesSource(df, gpu);
    if (!src) v.push('gpu: node_modules not copied from a build stage');
    else {
      const runs = keyword(src, 'RUN')
        .map((i) => i.getArgumentsContent() ?? '')
        .join('\n');
      if (!/scripts\/install-cuda-provider\.sh "\$ONNXRUNTIME_CUDA_SOURCE"/.test(runs)) {
        v.push(
          'gpu: the build stage does not install the CUDA provider with scripts/install-cuda-provider.sh "$ONNXRUNTIME_CUDA_SOURCE"',
        );
      }
      const source = /^ARG ONNXRUNTIME_CUDA_SOURCE=(\S+)$/m.exec(text)?.[1];
      if (source !== 'pypi' && source !== 'nuget')
        v.push(`gpu: ONNXRUNTIME_CUDA_SOURCE defaults to ${source ?? 'nothing'}, not pypi or nuget`);
    }
    const checks = keyword(gpu, 'RUN')
      .map((i) => i.getArgumentsContent() ?? '')
      .join('\n');
    if (!checks.includes('cuda-check --skip-driver')) v.push('gpu: the build does not run cuda-check --skip-driver');
    if (!/ldd \S*libonnxruntime_providers_cuda\.so/.test(checks) || !checks.includes("grep 'not found'")) {
      v.push('gpu: the build does not fail on a CUDA provider library that ldd cannot find');
    }
  }
  const cpu = stage(df, 'cpu');
  if (cpu) {
    if (!new RegExp(`^node:${NODE_MAJOR}\\.\\d+\\.\\d+-\\w+-slim$`).test(cpu.from))
      v.push(`cpu: base ${cpu.from} is not a pinned slim Node ${NODE_MAJOR} image`);
    const src = nodeModulesSource(df, cpu);
    if (src && !runs(src).some((r) => /prune-native\.sh node_modules/.test(r)))
      v.push("cpu: node_modules keep other platforms' native binaries (no docker/prune-native.sh)");
    if (!src) v.push('cpu: node_modules not copied from a build stage');
    else if (src.env.get('ONNXRUNTIME_NODE_INSTALL') !== 'skip')
      v.push(
        `cpu: node_modules built with ONNXRUNTIME_NODE_INSTALL=${src.env.get('ONNXRUNTIME_NODE_INSTALL')}, not skip`,
      );
  }
  const exp = stage(df, 'export');
  if (exp) {
    const runs = keyword(exp, 'RUN')
      .map((i) => i.getArgumentsContent() ?? '')
      .join('\n');
    if (!runs.includes('scripts/setup-python.sh'))
      v.push('export: does not install the Python tools with scripts/setup-python.sh');
    if (!(keyword(exp, 'ENTRYPOINT').at(-1)?.getArgumentsContent() ?? '').includes('scripts/export_onnx.py'))
      v.push('export: ENTRYPOINT is not scripts/export_onnx.py');
  }
  return v;
}

const dockerfile = readRepoFile('Dockerfile');

t.test('the Dockerfile follows the deployment rules', async (t) => {
  t.same(dockerfileViolations(dockerfile), []);
});

t.test('stages and pinned bases', async (t) => {
  const df = parseDockerfile(dockerfile);
  t.same(
    df.stages.map((s) => s.name),
    ['deps', 'build', 'deps-cuda', 'node', 'export', 'cpu', 'gpu'],
  );
  t.equal(stage(df, 'gpu')!.from, 'nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04');
  t.equal(stage(df, 'cpu')!.from, 'node:24.22.3-bookworm-slim');
  t.equal(stage(df, 'deps-cuda')!.parent?.name, 'deps');
  // a digest passed as a build arg is taken as is
  const pinned = parseDockerfile(dockerfile, {
    CUDA_IMAGE: `nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04@sha256:${'a'.repeat(64)}`,
  });
  t.equal(imageRef(stage(pinned, 'gpu')!.from).digest, `sha256:${'a'.repeat(64)}`);
});

t.test('the rules catch what they are for', async (t) => {
  const swap = (from: string, to: string) => {
    t.ok(dockerfile.includes(from), `fixture text present: ${from}`);
    return dockerfile.replace(from, to);
  };
  const cases: [string, string, RegExp][] = [
    ['ARG NODE_IMAGE=node:24.22.3-bookworm-slim', 'ARG NODE_IMAGE=node:latest', /uses latest/],
    [
      'ARG NODE_IMAGE=node:24.22.3-bookworm-slim',
      'ARG NODE_IMAGE=node:20.20.2-bookworm-slim',
      /not a pinned slim Node 24/,
    ],
    ['ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04', 'ARG CUDA_IMAGE=nvidia/cuda', /not pinned/],
    [
      'ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04',
      'ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04',
      /not an nvidia\/cuda 13\.x/,
    ],
    [
      'ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04',
      'ARG CUDA_IMAGE=nvidia/cuda:13.0.1-runtime-ubuntu24.04',
      /cuDNN 9/,
    ],
    ['ARG NODE_IMAGE=node:24.22.3-bookworm-slim', 'ARG NODE_IMAGE=node:24', /tag is not a version/],
    [' \\\n && prune-native.sh node_modules', '', /other platforms' native binaries/],
    [
      'HOME=/tmp NODE_ENV=production CUDA_CACHE_PATH=/tmp/cuda-cache',
      'NODE_ENV=production',
      /gpu: HOME is not \/tmp[^]*gpu: CUDA_CACHE_PATH is not under/,
    ],
    ['DEVICE=cpu HOME=/tmp', 'DEVICE=cpu HOME=/tmp MODEL_DIR=/app/models/ko-reranker-small', /cpu: sets MODEL_DIR/],
    ['bash scripts/install-cuda-provider.sh "$ONNXRUNTIME_CUDA_SOURCE"', 'true', /does not install the CUDA provider/],
    ['ARG ONNXRUNTIME_CUDA_SOURCE=pypi', 'ARG ONNXRUNTIME_CUDA_SOURCE=github', /defaults to github/],
    ['RUN node dist/main.js cuda-check --skip-driver \\\n && ', 'RUN ', /does not run cuda-check/],
    ["if grep 'not found' /tmp/ldd.txt", "if grep 'missing' /tmp/ldd.txt", /ldd cannot find/],
    [
      'ENV ONNXRUNTIME_NODE_INSTALL=skip',
      'ENV ONNXRUNTIME_NODE_INSTALL=cuda12',
      /cpu: node_modules built with ONNXRUNTIME_NODE_INSTALL=cuda12/,
    ],
    ['CMD ["serve"]\n\n# ---- GPU', 'CMD ["--port", "8080"]\n\n# ---- GPU', /cpu: CMD is not \["serve"\]/],
    [
      'ENTRYPOINT ["/usr/local/bin/ko-rerank-entrypoint"]',
      'ENTRYPOINT ["node", "--import", "tsx", "/app/src/main.ts"]',
      /cpu: ENTRYPOINT is not \/usr\/local\/bin\/ko-rerank-entrypoint/,
    ],
    [
      'COPY docker/entrypoint.sh /usr/local/bin/ko-rerank-entrypoint\nUSER',
      'USER',
      /cpu: \/usr\/local\/bin\/ko-rerank-entrypoint is not copied from docker\/entrypoint\.sh/,
    ],
    ['RUN npm run build', 'RUN true', /gpu: the stage dist\/ comes from does not run npm run build/],
    [
      'npm ci --omit=dev --ignore-scripts',
      'npm ci --ignore-scripts',
      /gpu: node_modules not installed with --omit=dev/,
    ],
    [
      'COPY --from=build /app/dist ./dist',
      'COPY src ./src',
      /cpu: dist\/ not copied from a build stage\ncpu: copies the TypeScript sources/,
    ],
    ['RUN node dist/main.js cuda-check', 'RUN node --import tsx dist/main.js cuda-check', /gpu: uses tsx/],
    ['COPY package.json LICENSE NOTICE ./', 'COPY package.json ./', /cpu: LICENSE and NOTICE are not copied in/],
    ['COPY LICENSE NOTICE ./', 'COPY NOTICE ./', /export: LICENSE and NOTICE are not copied in/],
  ];
  for (const [from, to, expected] of cases) t.match(dockerfileViolations(swap(from, to)).join('\n'), expected, `${to}`);

  // the last USER wins: a trailing USER root makes the gpu image run as root
  t.match(dockerfileViolations(dockerfile.trimEnd() + '\nUSER root\n').join('\n'), /gpu: USER root is root/);
  // no HEALTHCHECK / EXPOSE in the gpu stage
  const gpuStart = dockerfile.indexOf('FROM ${CUDA_IMAGE} AS gpu');
  const gpuPart = dockerfile.slice(gpuStart);
  const stripped =
    dockerfile.slice(0, gpuStart) + gpuPart.replace(/HEALTHCHECK[^\n]*\\\n[^\n]*\n/, '').replace('EXPOSE 8080\n', '');
  const v = dockerfileViolations(stripped).join('\n');
  t.match(v, /gpu: no HEALTHCHECK/);
  t.match(v, /gpu: no EXPOSE 8080/);
  t.notMatch(v, /cpu: no HEALTHCHECK/);
  t.match(dockerfileViolations('FROM node:24.22.3-bookworm-slim AS cpu\nCMD ["serve"]\n').join('\n'), /no gpu target/);
});

t.test('.dockerignore keeps what the images copy and drops the rest', async (t) => {
  const ignore = readRepoFile('.dockerignore');
  const df = parseDockerfile(dockerfile);
  const sources = df.stages.flatMap(contextSources);
  t.ok(sources.length >= 5, 'COPY sources found');
  for (const src of new Set(sources)) {
    const rel = src.replace(/\/$/, '');
    t.ok(existsSync(path.join(ROOT, rel)), `${rel} exists`);
    t.notOk(dockerIgnored(ignore, rel), `${rel} is in the build context`);
  }
  for (const needed of [
    'models/ko-reranker-small/onnx/model_int8_weights.onnx',
    'models/ko-reranker-small/tokenizer.json',
    'models/ko-reranker-small/config.json',
    'scripts/export_onnx.py',
    'scripts/requirements.txt',
    'src/main.ts',
  ]) {
    t.notOk(dockerIgnored(ignore, needed), `${needed} is in the build context`);
  }
  for (const dropped of [
    'node_modules/fastify/package.json',
    '.git/HEAD',
    'scripts/.venv/bin/python',
    'models/ko-reranker/onnx/model.onnx',
    'models/ko-reranker-tiny/model.safetensors',
    'models/ko-reranker-small/model.safetensors',
    'build/ko-reranker-small/onnx/model.onnx',
    'test/config.test.ts',
    'dist/main.js',
  ]) {
    t.ok(dockerIgnored(ignore, dropped), `${dropped} is left out`);
  }
});

t.test('the entrypoint is what the build makes of a source in the repo', async (t) => {
  const df = parseDockerfile(dockerfile);
  const { compilerOptions } = JSON.parse(readRepoFile('tsconfig.build.json'));
  t.same([compilerOptions.rootDir, compilerOptions.outDir], ['src', 'dist'], 'npm run build compiles src/ into dist/');
  for (const name of SERVER_TARGETS) {
    const entrypoint = execForm(keyword(stage(df, name)!, 'ENTRYPOINT').at(-1)!.getArgumentsContent())!;
    t.same(entrypoint, [ENTRYPOINT]);
  }
  // the script starts the compiled CLI, and defaults MODEL_DIR to the embedded model the images copy in
  const script = readRepoFile(ENTRYPOINT_SOURCE);
  const node = /exec node (\/app\/dist\/\S+\.js) "\$@"/.exec(script);
  t.ok(node, 'the entrypoint execs node on dist/');
  const source = node![1]!.replace(/^\/app\/dist\//, 'src/').replace(/\.js$/, '.ts');
  t.ok(existsSync(path.join(ROOT, source)), `${node![1]} is built from ${source}`);
  t.match(script, /MODEL_DIR=\/app\/models\/ko-reranker-small\n/);
});
