// Cross-encoders of every supported family, served by MODEL_DIR alone: seeded random checkpoints built with
// transformers (XLM-R at 514 and 8,194 positions, BERT with token types, ELECTRA, DeBERTa-v2), exported (fp32, fp16,
// int8-weights) by
// scripts/export_onnx.py (scripts/modelkit/families.py, at test time into a temp dir), served by the real server: each
// pair's logit through HTTP equals transformers' within 1e-4, the token counts equal transformers' pair encoding (the
// query whole, the passage cut at max_len), and models the service cannot serve right are refused before listening.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { createEngine } from '../../src/compose.ts';
import { startServer, testConfig } from '../helpers/server.ts';

const TOLERANCE = 1e-4;
const FAMILIES = ['xlmr-514', 'xlmr-8194', 'bert', 'electra', 'deberta-v2'];

interface Expected {
  name: string;
  fp16_tolerance: number;
  int8_tolerance: number;
  max_len: number;
  inputs: string[];
  post_processor: string;
  pairs: { query: string; passage: string; logit: number; tokens: number }[];
}

const python = 'scripts/.venv/bin/python';
// The fixtures need the Python venv (transformers, torch). CI's tap step runs before scripts/test-python.sh makes it;
// that script runs this file again once the venv is there, so it runs in CI either way.
if (existsSync(python)) await families();
else t.plan(0, 'no scripts/.venv yet: scripts/test-python.sh makes it, then runs this file');

async function families(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ko-rerank-families-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(python, ['-m', 'scripts.modelkit.families', dir], {
    env: { ...process.env, PYTHONPATH: '.', PYTHONWARNINGS: 'ignore' },
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 600_000,
  });

  for (const name of FAMILIES) {
    t.test(`${name}: logits through HTTP equal transformers' within ${TOLERANCE}`, async (t) => {
      const modelDir = path.join(dir, name);
      const expected = JSON.parse(readFileSync(path.join(modelDir, 'expected.json'), 'utf8')) as Expected;
      const srv = await startServer({ modelDir, modelFile: 'auto', maxPassages: 100 });
      t.teardown(() => srv.close());
      const info = (await srv.get('/info')).body;
      t.equal(info.max_len, expected.max_len, `max_len ${expected.max_len}: the model's own limit`);
      t.same([...srv.engine.info().backend!.inputNames].sort(), [...expected.inputs].sort(), 'graph inputs');
      const res = await srv.post('/score', {
        pairs: expected.pairs.map((p) => [p.query, p.passage]),
        normalize: 'none',
      });
      t.equal(res.status, 200, JSON.stringify(res.body).slice(0, 300));
      const byIndex = new Map<number, { logit: number }>(res.body.results.map((r: any) => [r.index, r]));
      expected.pairs.forEach((p, i) => {
        const got = byIndex.get(i)!.logit;
        t.ok(Math.abs(got - p.logit) <= TOLERANCE, `pair ${i} (${p.tokens} tokens): ${got} vs transformers ${p.logit}`);
      });
      t.equal(
        res.body.usage.tokens,
        expected.pairs.reduce((n, p) => n + p.tokens, 0),
        `${expected.post_processor}: the same tokens as transformers' pair encoding`,
      );
      const logits = expected.pairs.map((p) => p.logit);
      t.ok(Math.max(...logits) - Math.min(...logits) >= 0.5, 'the pairs differ clearly: the check can fail');
    });
  }

  // The --fp16 file (fp16 weights and activations, fp32 inputs and logits) and the --quantize int8-weights file of each
  // family, served with MODEL_FILE.
  const variants = [
    { file: 'model_fp16.onnx', tolerance: (e: Expected) => e.fp16_tolerance },
    { file: 'model_int8_weights.onnx', tolerance: (e: Expected) => e.int8_tolerance },
  ];
  for (const name of FAMILIES) {
    for (const { file, tolerance } of variants) {
      t.test(`${name}: ${file} served with MODEL_FILE`, async (t) => {
        const modelDir = path.join(dir, name);
        const expected = JSON.parse(readFileSync(path.join(modelDir, 'expected.json'), 'utf8')) as Expected;
        const srv = await startServer({ modelDir, modelFile: file, maxPassages: 100 });
        t.teardown(() => srv.close());
        const res = await srv.post('/score', {
          pairs: expected.pairs.map((p) => [p.query, p.passage]),
          normalize: 'none',
        });
        t.equal(res.status, 200);
        const byIndex = new Map<number, { logit: number }>(res.body.results.map((r: any) => [r.index, r]));
        expected.pairs.forEach((p, i) => {
          const got = byIndex.get(i)!.logit;
          t.ok(Math.abs(got - p.logit) <= tolerance(expected), `pair ${i}: ${got} vs transformers ${p.logit} (fp32)`);
        });
      });
    }
  }

  t.test('xlmr-8194: a pair of several thousand tokens is scored whole; MAX_LEN bounds it lower', async (t) => {
    const modelDir = path.join(dir, 'xlmr-8194');
    const expected = JSON.parse(readFileSync(path.join(modelDir, 'expected.json'), 'utf8')) as Expected;
    const long = expected.pairs.reduce((a, b) => (b.tokens > a.tokens ? b : a));
    t.ok(long.tokens > 3000, `${long.tokens} tokens`);
    const srv = await startServer({ modelDir, modelFile: 'auto', maxLen: 1024 });
    t.teardown(() => srv.close());
    t.equal((await srv.get('/info')).body.max_len, 1024);
    const res = await srv.post('/rerank', { query: long.query, passages: [long.passage] });
    t.equal(res.status, 200);
    t.equal(res.body.results[0].truncated, true, 'cut at MAX_LEN=1024');
    t.equal(res.body.usage.tokens, 1024);
    t.throws(
      () => createEngine(testConfig({ modelDir, maxLen: 8193 })),
      /MAX_LEN: 8193 is above the model's own limit 8192/,
    );
  });

  t.test('models the service cannot serve right are refused before listening, with the reason', async (t) => {
    const twoLabels = createEngine(testConfig({ modelDir: path.join(dir, 'bert-2labels'), modelFile: 'auto' }));
    await t.rejects(twoLabels.prepare(), /output logits has shape \[batch_size, 2\]: 2 labels/);

    const llm = path.join(dir, 'qwen3');
    cpSync(path.join(dir, 'bert'), llm, { recursive: true });
    writeFileSync(
      path.join(llm, 'config.json'),
      JSON.stringify({ model_type: 'qwen3', architectures: ['Qwen3ForCausalLM'], max_position_embeddings: 40960 }),
    );
    t.throws(
      () => createEngine(testConfig({ modelDir: llm })),
      /decoder-only language model \(model_type qwen3, Qwen3ForCausalLM\)/,
    );

    const unknown = path.join(dir, 'unknown-post-processor');
    cpSync(path.join(dir, 'bert'), unknown, { recursive: true });
    const tok = JSON.parse(readFileSync(path.join(unknown, 'tokenizer.json'), 'utf8'));
    tok.post_processor = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
    writeFileSync(path.join(unknown, 'tokenizer.json'), JSON.stringify(tok));
    const engine = createEngine(testConfig({ modelDir: unknown }));
    await t.rejects(engine.prepare(), /cannot be served: its post_processor is "ByteLevel"/);
  });
}
