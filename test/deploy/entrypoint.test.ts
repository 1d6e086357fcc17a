// docker/entrypoint.sh, the cpu and gpu images' entrypoint, run with /bin/sh against stand-in inputs: fake NVIDIA
// driver versions (/proc/driver/nvidia/version as the kernel module writes it) and a fake cuda-compat directory
// decide whether the compat libcuda goes first on the loader path (CUDA forward compatibility); SageMaker's
// /opt/ml/model is picked when MODEL_DIR is unset; the server's subcommands go to node /app/dist/main.js.
// scripts/image-test.sh repeats the driver decision inside the built gpu image.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ROOT } from './lib.ts';

const SCRIPT = path.join(ROOT, 'docker/entrypoint.sh');
const dir = mkdtempSync(path.join(os.tmpdir(), 'entrypoint-'));
const compat = path.join(dir, 'compat');
mkdirSync(compat);
writeFileSync(path.join(compat, 'libcuda.so.580.65.06'), '');
writeFileSync(path.join(compat, 'libcuda.so.1'), '');
const emptyCompat = path.join(dir, 'empty-compat');
mkdirSync(emptyCompat);
// a fake `node` first on PATH: prints what the entrypoint would run
const bin = path.join(dir, 'bin');
mkdirSync(bin);
writeFileSync(path.join(bin, 'node'), '#!/bin/sh\necho "node $*"\n');
chmodSync(path.join(bin, 'node'), 0o755);

const PROPRIETARY = (v: string) =>
  `NVRM version: NVIDIA UNIX x86_64 Kernel Module  ${v}  Sun May 12 19:39:15 UTC 2024\nGCC version:  gcc version 7.3.1\n`;
const OPEN = (v: string) =>
  `NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  ${v}  Release Build  (dvs-builder@U16)  Thu Mar 27 2025\n`;

let n = 0;
function run(opts: { version?: string; compatDir?: string; env?: Record<string, string>; args?: string[] }) {
  const versionFile = path.join(dir, `version-${n++}`);
  if (opts.version !== undefined) writeFileSync(versionFile, opts.version);
  const r = spawnSync(
    'sh',
    [SCRIPT, ...(opts.args ?? ['sh', '-c', 'echo "LD=$LD_LIBRARY_PATH MODEL_DIR=$MODEL_DIR"'])],
    {
      encoding: 'utf8',
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        KO_RERANK_DRIVER_VERSION_FILE: versionFile,
        KO_RERANK_CUDA_COMPAT_DIR: opts.compatDir ?? compat,
        KO_RERANK_SAGEMAKER_MODEL_DIR: path.join(dir, 'no-sagemaker'),
        ...opts.env,
      },
    },
  );
  return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}
const ld = (out: string) => /LD=(\S*)/.exec(out)![1];

t.test('a driver older than the compat libcuda puts the compat directory first, with one line saying so', async (t) => {
  for (const [label, version] of [
    ['535 (SageMaker ml.g6/ml.p5, k8s 535)', PROPRIETARY('535.183.01')],
    ['550 (SageMaker ml.p5e)', PROPRIETARY('550.144.03')],
    ['470 (SageMaker ml.g5/ml.p4d)', PROPRIETARY('470.256.02')],
    ['570, open kernel module', OPEN('570.133.20')],
  ] as const) {
    const r = run({ version, env: { LD_LIBRARY_PATH: '/usr/local/nvidia/lib64' } });
    t.equal(r.status, 0, label);
    t.equal(ld(r.out), `${compat}:/usr/local/nvidia/lib64`, `${label}: compat first, the rest kept`);
    t.equal(r.err.split('\n').length, 1, `${label}: one line`);
    t.match(r.err, /older than this image's CUDA needs; using CUDA forward compatibility \(libcuda 580\.65\.06/);
  }
});

t.test(
  'a driver at least as new as the compat libcuda, or none, leaves the loader path alone and says nothing',
  async (t) => {
    for (const [label, version] of [
      ['same version', PROPRIETARY('580.65.06')],
      ['newer 580', PROPRIETARY('580.95.05')],
      ['newer branch', OPEN('590.44.01')],
      ['no driver (no GPU visible)', undefined],
      ['unreadable version text', 'garbage\n'],
    ] as const) {
      const r = run({ version, env: { LD_LIBRARY_PATH: '/usr/local/nvidia/lib64' } });
      t.equal(r.status, 0);
      t.equal(ld(r.out), '/usr/local/nvidia/lib64', label);
      t.equal(r.err, '', `${label}: silent`);
    }
    const noCompat = run({ version: PROPRIETARY('535.183.01'), compatDir: emptyCompat });
    t.equal(ld(noCompat.out), '', 'no compat libraries in the image (the CI stand-in): nothing to put first');
    t.equal(noCompat.err, '');
    const off = run({ version: PROPRIETARY('535.183.01'), env: { KO_RERANK_CUDA_COMPAT: 'off' } });
    t.equal(ld(off.out), '', 'KO_RERANK_CUDA_COMPAT=off');
  },
);

t.test(
  "MODEL_DIR: kept when set; SageMaker's /opt/ml/model when it holds a model; else the embedded model",
  async (t) => {
    const sm = path.join(dir, 'opt-ml-model');
    mkdirSync(sm);
    const md = (r: { out: string }) => /MODEL_DIR=(\S*)/.exec(r.out)![1];
    t.equal(md(run({ env: { KO_RERANK_SAGEMAKER_MODEL_DIR: sm } })), '/app/models/ko-reranker-small', 'empty dir');
    writeFileSync(path.join(sm, 'config.json'), '{}');
    t.equal(md(run({ env: { KO_RERANK_SAGEMAKER_MODEL_DIR: sm } })), sm, 'a model there');
    t.equal(
      md(run({ env: { KO_RERANK_SAGEMAKER_MODEL_DIR: sm, MODEL_DIR: '/models/x' } })),
      '/models/x',
      'MODEL_DIR wins',
    );
  },
);

t.test('the server subcommands run node /app/dist/main.js; other commands run as given', async (t) => {
  t.equal(run({ args: ['serve'] }).out, 'node /app/dist/main.js serve');
  t.equal(run({ args: [] }).out, 'node /app/dist/main.js serve', 'no argument: serve');
  t.equal(run({ args: ['cuda-check', '--skip-driver'] }).out, 'node /app/dist/main.js cuda-check --skip-driver');
  t.equal(run({ args: ['--port', '9000'] }).out, 'node /app/dist/main.js --port 9000');
  t.equal(run({ args: ['echo', 'hi'] }).out, 'hi');
});
