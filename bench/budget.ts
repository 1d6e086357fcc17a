// Raw session.run throughput and per-micro-batch time vs the batch budget (MAX_BATCH_TOKENS, rows capped by
// MAX_BATCH_SIZE), over the same tokenized RAG pairs as the throughput suite: how large a micro-batch this CPU needs.
//   [BUDGETS=512,1024,...] npm run bench -- budget [--out FILE]
//   (interleaved rounds, medians; default bench/results/<date>-budget.json)
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import ort from 'onnxruntime-node';
import { loadConfig } from '../src/config.ts';
import { readModelDir } from '../src/backend/model-dir.ts';
import { loadTokenizer } from '../src/core/tokenizer.ts';
import { buildWorkloads } from './lib/workload.ts';
import { RawSession } from './lib/raw.ts';

const config = loadConfig([], { DEVICE: 'cpu', ...process.env });
const model = readModelDir(config.modelDir, config.modelFile);
const tokenizer = await loadTokenizer(model.dir);
const w = await buildWorkloads(
  { tokenizer, maxLen: model.maxLen, queryMaxShare: config.queryMaxShare },
  { rag20: 48, rag50: 1, long: 4 },
);
const budgets = (process.env.BUDGETS ?? '512,1024,2048,4096,8192,16384,32768').split(',').map(Number);
const rounds = 3;
const out: Record<string, Record<number, { pairsPerSec: number[]; msPerBatch: number[] }>> = { rag20: {}, long: {} };
for (let r = 0; r < rounds; r++) {
  for (const wl of ['rag20', 'long'] as const) {
    const seqs = w[wl].seqs.flat();
    for (const b of budgets) {
      if (b < model.maxLen && wl === 'long') continue;
      const s = await RawSession.create({
        onnxPath: model.onnxPath,
        intraOpThreads: config.intraOpThreads,
        spinning: config.intraOpSpinning,
        maxBatchTokens: b,
        maxBatchSize: 1024,
        padId: model.padId,
      });
      const res = await s.run(seqs, 1);
      await s.close();
      const cell = (out[wl]![b] ??= { pairsPerSec: [], msPerBatch: [] });
      cell.pairsPerSec.push(res.pairsPerSec);
      cell.msPerBatch.push((res.seconds * 1000) / (res.batches * (res.pairs / seqs.length)));
    }
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const table = Object.fromEntries(
  Object.entries(out).map(([wl, cells]) => [
    wl,
    Object.fromEntries(
      Object.entries(cells).map(([b, c]) => [
        b,
        {
          pairsPerSec: Math.round(med(c.pairsPerSec)),
          msPerBatch: +med(c.msPerBatch).toFixed(2),
          runs: c.pairsPerSec.map(Math.round),
        },
      ]),
    ),
  ]),
);
for (const [wl, cells] of Object.entries(table))
  for (const [b, c] of Object.entries(cells))
    console.log(
      `${wl} MAX_BATCH_TOKENS=${b}: ${c.pairsPerSec} pairs/s, ${c.msPerBatch} ms per micro-batch (runs ${c.runs.join(' ')})`,
    );
const result = {
  date: new Date().toISOString(),
  machine: {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    node: process.version,
    onnxruntime: ort.env.versions.node,
    loadAvg: os.loadavg(),
  },
  model: model.name,
  modelFile: config.modelFile,
  intraOpThreads: config.intraOpThreads,
  rowsCap: 1024,
  table,
};
const i = process.argv.indexOf('--out');
const outFile = i >= 0 ? process.argv[i + 1]! : `bench/results/${result.date.slice(0, 10)}-budget.json`;
writeFileSync(outFile, JSON.stringify(result, null, 1) + '\n');
console.log(`wrote ${outFile}`);
