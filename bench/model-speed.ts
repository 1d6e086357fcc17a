// Speed of the default model, models/ko-reranker-small, on this machine: `npm run bench -- model-speed [--seconds S]`.
//   1. bare onnxruntime-node sessions (bench/lib/raw.ts: the worker's session options, length-sorted batches under the
//      server's CPU budget) over the rag20 workload's tokenized pairs: fp32 (build/ko-reranker-small, made by
//      `npm run model:build:small`; skipped when absent) and int8 (the committed, served file), alternating rounds;
//   2. the service: `ko-rerank serve` with the defaults as a child process; 20-passage /rerank requests from this
//      process over keep-alive HTTP: one client (the latency of one RAG request) and 4 concurrent clients (pairs/s);
//   3. the same one-client latency with ko-reranker-tiny, for the ratio.
// Writes bench/results/<date>-model-speed.json; the model card (scripts/modelkit/card_small.py) quotes the newest.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import ort from 'onnxruntime-node';
import { loadConfig, maxBatchTokensFor } from '../src/config.ts';
import { readModelDir } from '../src/backend/model-dir.ts';
import { loadTokenizer } from '../src/core/tokenizer.ts';
import { buildWorkloads } from './lib/workload.ts';
import { RawSession } from './lib/raw.ts';
import { freePort } from '../test/helpers/loopback.ts';

const argv = process.argv.slice(2);
const seconds = Number(argv[argv.indexOf('--seconds') + 1] ?? 0) || 8;
const SMALL = 'models/ko-reranker-small';
const FP32_DIR = 'build/ko-reranker-small';
const OUT = `bench/results/${new Date().toISOString().slice(0, 10)}-model-speed.json`;
const loadStart = os.loadavg()[0]!;

const config = loadConfig([], { DEVICE: 'cpu' });
const model = readModelDir(SMALL, 'auto');
const tokenizer = await loadTokenizer(model.dir);
const { rag20 } = await buildWorkloads(
  { tokenizer, maxLen: model.maxLen, queryMaxShare: config.queryMaxShare },
  { rag20: 40, rag50: 1, long: 1 },
);
const seqs = rag20.seqs.flat();
const tokensPerPair = Math.round(seqs.reduce((n, s) => n + s.length, 0) / seqs.length);
const budget = maxBatchTokensFor(config, 'cpu', model.maxLen);

const files: Record<string, string> = { 'int8 (onnx/model_int8_weights.onnx, served)': model.onnxPath };
if (existsSync(`${FP32_DIR}/onnx/model.onnx`))
  files['fp32 (build/ko-reranker-small/onnx/model.onnx)'] = `${FP32_DIR}/onnx/model.onnx`;
const sessions = Object.fromEntries(
  await Promise.all(
    Object.entries(files).map(
      async ([k, f]) =>
        [
          k,
          await RawSession.create({
            onnxPath: f,
            intraOpThreads: config.intraOpThreads,
            spinning: config.intraOpSpinning,
            maxBatchTokens: budget,
            maxBatchSize: config.maxBatchSize,
            padId: model.padId,
          }),
        ] as const,
    ),
  ),
);
const rounds: Record<string, number[]> = Object.fromEntries(Object.keys(files).map((k) => [k, []]));
for (let round = 0; round < 2; round++) {
  for (const [k, s] of Object.entries(sessions)) {
    const r = await s.run(seqs, seconds);
    rounds[k]!.push(r.pairsPerSec);
    console.log(`raw ${k}: ${r.pairsPerSec.toFixed(1)} pairs/s (round ${round + 1})`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function serve(env: Record<string, string>): Promise<{ base: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['bin/ko-rerank.mjs', 'serve'], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), DEVICE: 'cpu', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(`${base}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { base, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not become ready');
}

async function drive(
  base: string,
  clients: number,
  forSeconds: number,
): Promise<{ pairsPerSec: number; p50: number; p95: number; requests: number }> {
  let next = 0;
  let pairs = 0;
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() - t0 < forSeconds * 1000) {
        const body = rag20.bodies[next++ % rag20.bodies.length]!;
        const start = performance.now();
        const res = await fetch(`${base}/rerank`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        if (!res.ok) throw new Error(`rerank ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
        lat.push(performance.now() - start);
        pairs += rag20.pairsPerRequest;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return {
    pairsPerSec: pairs / secs,
    p50: lat[Math.floor(lat.length / 2)]!,
    p95: lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.95))]!,
    requests: lat.length,
  };
}

const small = await serve({});
await drive(small.base, 1, 1); // warm-up
const one = await drive(small.base, 1, seconds);
const four = await drive(small.base, 4, seconds);
small.child.kill('SIGTERM');
console.log(
  `service ko-reranker-small: 1 client p50 ${one.p50.toFixed(0)} ms p95 ${one.p95.toFixed(0)} ms; 4 clients ${four.pairsPerSec.toFixed(1)} pairs/s`,
);
const tiny = await serve({ MODEL_DIR: 'models/ko-reranker-tiny' });
await drive(tiny.base, 1, 1);
const tinyOne = await drive(tiny.base, 1, seconds);
tiny.child.kill('SIGTERM');
console.log(`service ko-reranker-tiny: 1 client p50 ${tinyOne.p50.toFixed(0)} ms`);

const result = {
  date: new Date().toISOString(),
  machine: {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    node: process.version,
    onnxruntime: ort.env.versions.node,
    load_avg_start: loadStart,
    load_avg_end: os.loadavg()[0],
  },
  workload: `rag20: 1 query x 20 passages (its positive among random MS MARCO-ko passages), ${rag20.requests.length} requests, ${tokensPerPair} tokens per pair on average`,
  settings: {
    max_batch_tokens: budget,
    max_batch_size: config.maxBatchSize,
    intra_op_threads: config.intraOpThreads,
    workers: config.workers,
  },
  bare_session: Object.fromEntries(
    Object.entries(rounds).map(([k, xs]) => [
      k,
      { pairs_per_second: median(xs), rounds: xs, batch: `under ${budget} tokens`, tokens_per_pair: tokensPerPair },
    ]),
  ),
  service: {
    concurrency: 4,
    pairs_per_second: four.pairsPerSec,
    latency_ms_p50: one.p50,
    latency_ms_p95: one.p95,
    one_client_pairs_per_second: one.pairsPerSec,
    requests: one.requests + four.requests,
  },
  tiny_latency_ms_p50: tinyOne.p50,
  tiny_speedup: Number((one.p50 / tinyOne.p50).toFixed(1)),
};
mkdirSync('bench/results', { recursive: true });
writeFileSync(OUT, JSON.stringify(result, null, 1) + '\n');
console.log(`wrote ${OUT}`);
