// Tokenizer comparison: the native `tokenizers` package (shipped) vs @huggingface/transformers (dev dependency only).
//   npx tsx bench/experiments/tokenizers.ts [pairs]
// Speed: both tokenize query and passage separately without special tokens, as the engine does, in two shapes:
// one call with all the texts, and request-sized calls (1 query + 20 passages). Parity: both against
// test/fixtures/reference.json with our pair rule.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadMsmarcoKo } from '../lib/data.ts';
import { readPairLayout } from '../../src/core/pair-layout.ts';
import { assemblePair, loadTokenizer, type TextTokenizer } from '../../src/core/tokenizer.ts';

const n = Number(process.argv[2] ?? 1000);
const modelDir = path.resolve(process.env.MODEL_DIR ?? 'models/ko-reranker-tiny');

/** @huggingface/transformers, local files only. Synchronous: it runs on the caller's thread. */
async function loadTransformers(dir: string): Promise<TextTokenizer> {
  const { AutoTokenizer, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = path.dirname(dir) + path.sep;
  const tok = (await AutoTokenizer.from_pretrained(path.basename(dir), { local_files_only: true })) as unknown as {
    encode(text: string, o: { add_special_tokens: boolean }): number[];
  };
  const layout = readPairLayout(JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')));
  return {
    layout,
    encodeMany: async (texts) => texts.map((t) => tok.encode(t.normalize('NFC'), { add_special_tokens: false })),
  };
}

const rows = loadMsmarcoKo();
const texts: string[] = [];
for (let i = 0; texts.length < 2 * n; i++) {
  const r = rows[i % rows.length]!;
  texts.push(r.query, r.pos[0]!);
}
const ref = JSON.parse(readFileSync('test/fixtures/reference.json', 'utf8')) as {
  max_len: number;
  query_max_share: number;
  pairs: { name: string; query: string; passage: string; input_ids: number[] }[];
};

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

for (const [impl, load] of [
  ['tokenizers', () => loadTokenizer(modelDir)],
  ['transformers', () => loadTransformers(modelDir)],
] as const) {
  const tok = await load();
  await tok.encodeMany(texts.slice(0, 200)); // warm-up
  const whole = await median(() => tok.encodeMany(texts));
  const chunks: string[][] = [];
  for (let i = 0; i < texts.length; i += 21) chunks.push(texts.slice(i, i + 21));
  const sequential = await median(async () => {
    for (const c of chunks) await tok.encodeMany(c);
  });
  const concurrent = await median(() => Promise.all(chunks.map((c) => tok.encodeMany(c))));
  const mismatches: string[] = [];
  for (const p of ref.pairs) {
    const [q, d] = await tok.encodeMany([p.query, p.passage]);
    const ids = assemblePair(q!, d!, ref.max_len, ref.query_max_share, tok.layout).ids;
    if (JSON.stringify(ids) !== JSON.stringify(p.input_ids)) mismatches.push(p.name);
  }
  console.log(
    `${impl.padEnd(12)} ${n} pairs: one call ${whole}; 21-text calls sequential ${sequential}; concurrent ${concurrent}`,
  );
  console.log(
    `${''.padEnd(12)} fixture parity: ${ref.pairs.length - mismatches.length}/${ref.pairs.length}${mismatches.length ? ` (differs on: ${mismatches.join('; ')})` : ''}`,
  );
}
console.log(`node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model}, model ${modelDir}`);
