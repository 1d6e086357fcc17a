// Measures the two tokenizer implementations on the same Korean texts: `npx tsx bench/tokenizers.ts [pairs]`.
// Both tokenize query and passage separately without special tokens (what the engine does).
// Two shapes: one call with all the pairs, and request-sized calls (1 query + 20 passages).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { loadTokenizer } from '../src/core/tokenizer.ts';

const n = Number(process.argv[2] ?? 1000);
const modelDir = process.env.MODEL_DIR ?? 'models/ko-reranker-tiny';
const rows = readFileSync('data/msmarco-ko/msmarco-ko.jsonl', 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as { query: string; pos: string[] });
const texts: string[] = [];
for (let i = 0; texts.length < 2 * n; i++) {
  const r = rows[i % rows.length]!;
  texts.push(r.query, r.pos[0]!);
}

async function median(fn: () => Promise<unknown>): Promise<string> {
  const times: number[] = [];
  for (let rep = 0; rep < 7; rep++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return `${times[3]!.toFixed(1)} ms (min ${times[0]!.toFixed(1)})`;
}

for (const impl of ['tokenizers', 'transformers'] as const) {
  const tok = await loadTokenizer(impl, modelDir);
  await tok.encodeMany(texts.slice(0, 200)); // warm-up
  const whole = await median(() => tok.encodeMany(texts));
  const chunks: string[][] = [];
  for (let i = 0; i < texts.length; i += 21) chunks.push(texts.slice(i, i + 21));
  const sequential = await median(async () => {
    for (const c of chunks) await tok.encodeMany(c);
  });
  const concurrent = await median(() => Promise.all(chunks.map((c) => tok.encodeMany(c))));
  console.log(`${impl.padEnd(12)} ${n} pairs: one call ${whole}; 21-text calls sequential ${sequential}; concurrent ${concurrent}`);
}
console.log(`node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model}, model ${modelDir}`);
