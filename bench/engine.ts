// Throughput of the engine (the code the routes call): `npm run bench -- engine [requests] [concurrency]`.
// Each request reranks 20 MS MARCO-ko passages against one query. Settings come from the env / flags as in serve.
import os from 'node:os';
import { loadMsmarcoKo } from './lib/data.ts';
import { loadConfig } from '../src/config.ts';
import { createEngine } from '../src/compose.ts';

const requests = Number(process.argv[2] ?? 200);
const concurrency = Number(process.argv[3] ?? 8);
const config = loadConfig([], { DEVICE: 'cpu', ...process.env });
const rows = loadMsmarcoKo();
const passages = rows.map((r) => r.pos[0]!);

const engine = createEngine(config);
await engine.start();
await engine.rank('워밍업', passages.slice(0, 20));

let next = 0;
let pairs = 0;
let tokens = 0;
const latencies: number[] = [];
const t0 = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < requests) {
      const i = next++;
      const start = performance.now();
      const out = await engine.rank(
        rows[i % rows.length]!.query,
        passages.slice((i * 20) % 5000, ((i * 20) % 5000) + 20),
      );
      latencies.push(performance.now() - start);
      pairs += 20;
      tokens += out.tokens;
    }
  }),
);
const secs = (performance.now() - t0) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(0);
console.log(
  `${requests} requests x 20 pairs, concurrency ${concurrency}: ${(pairs / secs).toFixed(0)} pairs/s, ${(tokens / secs).toFixed(0)} tokens/s; ` +
    `latency p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms`,
);
console.log(
  `model ${engine.model.name} (${config.modelFile}), MAX_BATCH_TOKENS=${engine.info().maxBatchTokens}, MAX_BATCH_SIZE=${config.maxBatchSize}, node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model}`,
);
await engine.close();
