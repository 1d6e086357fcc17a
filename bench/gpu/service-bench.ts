// The GPU kit's Node half (bench/gpu/README.md): the real service (bin/ko-rerank.mjs serve: Fastify, our batcher and
// worker, onnxruntime-node) against a bare onnxruntime session on the same pairs, at fixed tokens per pair.
//   tsx bench/gpu/service-bench.ts --model-dir DIR --files model.onnx,model_fp16.onnx --device cuda --out OUT.json
//     [--lengths 128,256,512] [--concurrency 1,4,16,64] [--seconds 10] [--passages 20]
// Per ONNX file: /info (provider), /score logits for the parity pairs (written with their token ids so PyTorch runs
// the very same inputs), then per length: the bare session's pairs/s (the limit), the service's pairs/s under a
// closed-loop concurrency sweep, p50/p99 of one 20-passage request unloaded and at half the best rate (open loop),
// and the GPU memory nvidia-smi reports for the server.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { assemblePair, loadTokenizer } from '../../src/core/tokenizer.ts';
import { maxBatchTokensFor } from '../../src/config.ts';
import { RawSession } from '../lib/raw.ts';
import { rng } from '../lib/workload.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function arg(name: string, fallback?: string): string {
  const at = process.argv.indexOf(`--${name}`);
  const v = at >= 0 ? process.argv[at + 1] : fallback;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}
const modelDir = arg('model-dir');
const files = arg('files', 'model.onnx').split(',');
const device = arg('device', 'cuda') as 'cuda' | 'cpu';
const lengths = arg('lengths', '128,256,512').split(',').map(Number);
const concurrencies = arg('concurrency', '1,4,16,64').split(',').map(Number);
const seconds = Number(arg('seconds', '10'));
const passagesPerRequest = Number(arg('passages', '20'));
const outFile = arg('out');

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

// ---- texts: the repo's Korean dev split (no ../shared on the GPU machine) ----------------------------------------
const rows = readFileSync(join(ROOT, 'data/msmarco-ko/dev.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as { query: string; pos: string[] });
const corpus = rows.flatMap((r) => r.pos);
const rand = rng(20261201);
const tokenizer = await loadTokenizer(modelDir);
const padId = Number(JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')).pad_token_id ?? 1);

interface Request {
  body: Buffer;
  ids: number[][];
}

/** Requests whose every pair is exactly `length` tokens: long passages, cut with max_tokens_per_doc. */
async function requestsOf(length: number, count: number): Promise<Request[]> {
  const out: Request[] = [];
  while (out.length < count) {
    const row = rows[Math.floor(rand() * rows.length)]!;
    const passages = Array.from({ length: passagesPerRequest }, () => {
      let text = '';
      while (text.length < length * 4) text += corpus[Math.floor(rand() * corpus.length)]! + ' ';
      return text;
    });
    const [q, ...ps] = await tokenizer.encodeMany([row.query, ...passages]);
    const cap = length - 4 - q!.length;
    if (cap < 8 || ps.some((p) => p.length < cap)) continue;
    const ids = ps.map((p) => assemblePair(q!, p.slice(0, cap), 512, 0.75, tokenizer.layout).ids);
    if (ids.some((x) => x.length !== length)) continue;
    out.push({ ids, body: Buffer.from(JSON.stringify({ query: row.query, passages, max_tokens_per_doc: cap })) });
  }
  return out;
}

// ---- the server -------------------------------------------------------------------------------------------------
async function startServer(file: string, port: number): Promise<{ child: ChildProcess; log: () => string }> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/ko-rerank.mjs'), 'serve'], {
    env: {
      ...process.env,
      MODEL_DIR: modelDir,
      MODEL_FILE: file,
      DEVICE: device,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      MAX_QUEUE_PAIRS: '100000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${log.slice(-2000)}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/ready`)).ok) return { child, log: () => log };
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`server not ready after 300 s: ${log.slice(-2000)}`);
}

function post(agent: http.Agent, port: number, path: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function closedLoop(port: number, reqs: Request[], concurrency: number, ms: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let errors = 0;
  let pairs = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() - t0 < ms) {
        const r = reqs[next++ % reqs.length]!;
        const s = performance.now();
        const res = await post(agent, port, '/rerank', r.body);
        if (res.status !== 200) errors++;
        else {
          pairs += r.ids.length;
          latencies.push(performance.now() - s);
        }
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  agent.destroy();
  return {
    concurrency,
    pairsPerSec: pairs / secs,
    requests: latencies.length,
    errors,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

/** Poisson arrivals at `rate` requests/s; latency from the scheduled arrival (no coordinated omission). */
async function openLoop(port: number, reqs: Request[], rate: number, ms: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const latencies: number[] = [];
  let errors = 0;
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  let at = 0;
  let i = 0;
  while (at < ms) {
    at += (-Math.log(1 - rand()) * 1000) / rate;
    const wait = t0 + at - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const scheduled = t0 + at;
    const r = reqs[i++ % reqs.length]!;
    inflight.push(
      post(agent, port, '/rerank', r.body).then((res) => {
        if (res.status !== 200) errors++;
        else latencies.push(performance.now() - scheduled);
      }),
    );
  }
  await Promise.all(inflight);
  agent.destroy();
  return {
    rate,
    requests: latencies.length,
    errors,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

function gpuMemoryMiB(pid: number | undefined): number | null {
  const r = spawnSync('nvidia-smi', ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return null;
  let total = 0;
  for (const line of r.stdout.trim().split('\n')) {
    const [p, mib] = line.split(',').map((x) => Number(x.trim()));
    if (pid === undefined || p === pid) total += mib ?? 0;
  }
  return total;
}

// ---- run --------------------------------------------------------------------------------------------------------
const parityRequests = await requestsOf(128, 4);
const report: Record<string, unknown> = {
  device,
  lengths,
  concurrencies,
  seconds,
  passagesPerRequest,
  models: {} as Record<string, unknown>,
};
let port = 18600;
for (const file of files) {
  const entry: Record<string, any> = { file, lengths: {} };
  (report.models as Record<string, unknown>)[file] = entry;
  const server = await startServer(file, ++port);
  try {
    entry.info = await (await fetch(`http://127.0.0.1:${port}/info`)).json();
    // parity: the service's logits for pairs whose ids are written down for PyTorch
    const agent = new http.Agent({ keepAlive: true });
    entry.parity = [];
    for (const r of parityRequests) {
      const body = JSON.parse(r.body.toString());
      const res = await post(agent, port, '/rerank', Buffer.from(JSON.stringify({ ...body, normalize: 'none' })));
      const results = JSON.parse(res.text).results as { index: number; logit: number }[];
      const logits = new Array<number>(r.ids.length);
      for (const x of results) logits[x.index] = x.logit;
      entry.parity.push({ ids: r.ids, logits });
    }
    agent.destroy();
    for (const length of lengths) {
      const reqs = await requestsOf(length, 16);
      const row: Record<string, any> = {};
      const sweep = [];
      for (const c of concurrencies) sweep.push(await closedLoop(port, reqs, c, seconds * 1000));
      row.service = sweep;
      const best = Math.max(...sweep.map((s) => s.pairsPerSec));
      row.servicePairsPerSec = best;
      row.gpuMemoryMiB = gpuMemoryMiB(server.child.pid);
      row.unloaded = await closedLoop(port, reqs, 1, Math.min(seconds, 5) * 1000);
      row.halfLoad = await openLoop(port, reqs, best / passagesPerRequest / 2, seconds * 1000);
      entry.lengths[length] = row;
    }
    entry.serverLogTail = server.log().slice(-4000);
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
  }
  // the bare session runs alone on the device, after the server has gone
  for (const length of lengths) {
    const reqs = await requestsOf(length, 16);
    const budget = maxBatchTokensFor({ maxBatchTokens: 0 }, device, 512);
    // the bare session: the limit (bench/lib/raw.ts, the same session options as the worker)
    const raw = await RawSession.create({
      onnxPath: join(modelDir, 'onnx', file),
      provider: device,
      intraOpThreads: 0,
      spinning: false,
      maxBatchTokens: budget,
      maxBatchSize: 64,
      padId,
    });
    const b = await raw.run(
      reqs.flatMap((r) => r.ids),
      seconds,
    );
    await raw.close();
    const row = entry.lengths[length];
    row.bare = { pairsPerSec: b.pairsPerSec, batches: b.batches, budget };
    row.serviceVsBare = row.servicePairsPerSec / b.pairsPerSec;
  }
}
writeFileSync(outFile, JSON.stringify(report, null, 2));
console.log(`wrote ${outFile}`);
process.exit(0);
