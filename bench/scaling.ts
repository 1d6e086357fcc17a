// `npm run bench -- scaling [--seconds S] [--steps 1,2,4,...]`: the autoscaling signals against load, to set the HPA
// and KEDA thresholds (deploy/k8s, docs/deploy.md "Scaling"). `ko-rerank serve` (a child process, settings from the
// environment as for `serve`) gets closed-loop clients sending rag20 requests (one MS MARCO-ko query, its positive and
// 19 other passages), at each concurrency step for S seconds; /metrics is scraped every 250 ms. Per step: requests/s,
// pairs/s, client latency p50/p95, 429s/s, and the mean and max of each signal: queue in pairs and padded tokens,
// admitted pairs, predicted wait, the workers' busy fraction. Writes bench/results/<date>-scaling.json.
import { writeFileSync } from 'node:fs';
import { spawnServer } from '../test/helpers/process.ts';
import { metricValue } from '../test/helpers/scripted-backend.ts';
import { loadMsmarcoKo } from './lib/data.ts';
import { rng } from './lib/workload.ts';

const argv = process.argv.slice(2);
const flag = (name: string) => (argv.indexOf(name) >= 0 ? argv[argv.indexOf(name) + 1] : undefined);
const seconds = Number(flag('--seconds') ?? 8);
const steps = (flag('--steps') ?? '1,2,4,8,16,32,64').split(',').map(Number);
const log = (s: string) => process.stderr.write(`[scaling ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

const rows = loadMsmarcoKo();
const rand = rng(20261204);
const bodies = Array.from({ length: 400 }, () => {
  const row = rows[Math.floor(rand() * rows.length)]!;
  const passages = [row.pos[0]!];
  while (passages.length < 20) passages.push(rows[Math.floor(rand() * rows.length)]!.pos[0]!);
  return JSON.stringify({ query: row.query, passages });
});

const server = await spawnServer({ LOG_LEVEL: 'warn', ...(process.env as Record<string, string>) }, 120_000);
log(`server up at ${server.base}`);
const scrape = async () => (await fetch(server.base + '/metrics')).text();
const SIGNALS = [
  'ko_rerank_queue_size',
  'ko_rerank_queue_padded_tokens',
  'ko_rerank_admitted_pairs',
  'ko_rerank_predicted_wait_seconds',
] as const;

interface Step {
  concurrency: number;
  seconds: number;
  requestsPerSec: number;
  pairsPerSec: number;
  refusedPerSec: number;
  otherErrors: number;
  latencyMs: { p50: number; p95: number; p99: number };
  busyFraction: number;
  signals: Record<string, { mean: number; max: number }>;
}

async function step(concurrency: number, ms: number): Promise<Step> {
  const latencies: number[] = [];
  let refused = 0;
  let other = 0;
  let next = 0;
  const samples: Record<string, number[]> = Object.fromEntries(SIGNALS.map((s) => [s, []]));
  const m0 = await scrape();
  const t0 = performance.now();
  const end = t0 + ms;
  let running = true;
  const sampler = (async () => {
    while (running) {
      const text = await scrape();
      for (const s of SIGNALS) samples[s]!.push(metricValue(text, s));
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const body = bodies[next++ % bodies.length]!;
        const s = performance.now();
        const res = await fetch(server.base + '/rerank', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        await res.arrayBuffer();
        if (res.status === 200) latencies.push(performance.now() - s);
        else if (res.status === 429) {
          refused++;
          // a client that honours Retry-After (at least 1 s) would wait; this one backs off 100 ms to keep the pressure
          await new Promise((r) => setTimeout(r, 100));
        } else other++;
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  running = false;
  await sampler;
  const m1 = await scrape();
  const d = (name: string) => metricValue(m1, name) - metricValue(m0, name);
  const sorted = latencies.sort((a, b) => a - b);
  const at = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN);
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    concurrency,
    seconds: r3(wall),
    requestsPerSec: r3(latencies.length / wall),
    pairsPerSec: r3(d('ko_rerank_batch_size_sum') / wall),
    refusedPerSec: r3(refused / wall),
    otherErrors: other,
    latencyMs: { p50: at(0.5), p95: at(0.95), p99: at(0.99) },
    busyFraction: r3(
      d('ko_rerank_inference_busy_seconds_total') / wall / metricValue(m1, 'ko_rerank_inference_workers'),
    ),
    signals: Object.fromEntries(
      SIGNALS.map((s) => {
        const xs = samples[s]!;
        return [s, { mean: r3(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)), max: r3(Math.max(0, ...xs)) }];
      }),
    ),
  };
}

const results: Step[] = [];
try {
  log('warm-up');
  await step(2, 2000);
  for (const c of steps) {
    const r = await step(c, seconds * 1000);
    results.push(r);
    log(
      `c=${c}: ${r.requestsPerSec} req/s, ${r.pairsPerSec} pairs/s, p95 ${r.latencyMs.p95} ms, 429/s ${r.refusedPerSec}, busy ${r.busyFraction}, queue ${r.signals.ko_rerank_queue_size!.mean} pairs / ${r.signals.ko_rerank_queue_padded_tokens!.mean} tokens, wait ${r.signals.ko_rerank_predicted_wait_seconds!.mean} s`,
    );
  }
} finally {
  server.kill();
}
const info = {
  date: new Date().toISOString(),
  settings: Object.fromEntries(
    Object.entries(process.env).filter(([k]) => /^(MODEL_DIR|MODEL_FILE|WORKERS|INTRA_OP_THREADS|MAX_\w+)$/.test(k)),
  ),
  workload: 'rag20: 1 query x 20 passages (MS MARCO-ko), closed loop, 429 -> 100 ms back-off',
  secondsPerStep: seconds,
  steps: results,
};
const out = `bench/results/${info.date.slice(0, 10)}-scaling.json`;
writeFileSync(out, JSON.stringify(info, null, 2) + '\n');
log(`wrote ${out}`);
