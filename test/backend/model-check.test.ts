// Start-up failures: a broken model directory stops `ko-rerank serve` before the port is bound, with one line on
// stderr naming the file and the fix, and a non-zero exit code. Each case copies the embedded model to a temp
// dir and breaks one file.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { freePort } from '../helpers/loopback.ts';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { checkModel, readOnnxSummary, tokenizerMaxId } from '../../src/backend/model-check.ts';
import { readModelDir } from '../../src/backend/model-dir.ts';

const EMBEDDED = 'models/ko-reranker-tiny';
const root = mkdtempSync(path.join(tmpdir(), 'ko-rerank-broken-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

function copyModel(name: string): string {
  const dir = path.join(root, name);
  cpSync(EMBEDDED, dir, {
    recursive: true,
    filter: (src) => !src.endsWith('.safetensors') && !src.endsWith('model_int8_weights.onnx'),
  });
  return dir;
}

/** Runs `serve` against the dir; kills it if it is still up after 60 s. Reports whether the port was ever bound. */
async function serve(dir: string): Promise<{ code: number | null; stderr: string; stdout: string; bound: boolean }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['bin/ko-rerank.mjs', 'serve'], {
    env: { ...process.env, MODEL_DIR: dir, HOST: '127.0.0.1', PORT: String(port), DEVICE: 'cpu', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(killer);
  return { code, stderr, stdout, bound: /Server listening/.test(stdout) };
}

const onnxOf = (dir: string) => path.join(dir, 'onnx', 'model.onnx');

const cases: [string, (dir: string) => void, RegExp][] = [
  [
    'missing model.onnx',
    (dir) => unlinkSync(onnxOf(dir)),
    /no ONNX model: looked for .*model\.onnx.*export one there .*or set MODEL_FILE/,
  ],
  [
    'truncated model.onnx',
    (dir) => truncateSync(onnxOf(dir), 100_000),
    /model\.onnx is not a valid ONNX model .*corrupt or truncated; export it again/,
  ],
  [
    'model.onnx that is not ONNX',
    (dir) => writeFileSync(onnxOf(dir), '<html>404 Not Found</html>\n'.repeat(100)),
    /model\.onnx is not a valid ONNX model/,
  ],
  [
    'empty model.onnx',
    (dir) => writeFileSync(onnxOf(dir), ''),
    /model\.onnx is not a valid ONNX model \(the file is empty\)/,
  ],
  [
    'a tokenizer with more ids than the model has embedding rows',
    (dir) => {
      const file = path.join(dir, 'tokenizer.json');
      const tok = JSON.parse(readFileSync(file, 'utf8'));
      for (let i = 0; i < 100; i++) tok.model.vocab.push([`▁extra${i}`, -20]);
      writeFileSync(file, JSON.stringify(tok));
    },
    /tokenizer\.json does not match .*model\.onnx: the tokenizer has ids up to 8101 but the model's word embedding has 8002 rows; use the tokenizer\.json saved with this model/,
  ],
  [
    'a tokenizer.json that is not JSON',
    (dir) => writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": {"vocab": ['),
    /tokenizer\.json is not valid JSON .*copy the tokenizer\.json saved with this model/,
  ],
  [
    'a missing tokenizer.json',
    (dir) => unlinkSync(path.join(dir, 'tokenizer.json')),
    /missing .*tokenizer\.json: copy the tokenizer\.json/,
  ],
  [
    'a graph without input_ids',
    (dir) => {
      // Rename the input everywhere in the protobuf (same length: the file stays well-formed).
      const bytes = readFileSync(onnxOf(dir));
      writeFileSync(onnxOf(dir), Buffer.from(bytes.toString('latin1').replaceAll('input_ids', 'token_ids'), 'latin1'));
    },
    /model\.onnx has graph inputs \[token_ids, attention_mask\] but a reranker needs input_ids and attention_mask .*export a sequence-classification model/,
  ],
  [
    'a missing model directory',
    (dir) => rmSync(dir, { recursive: true }),
    /model directory .* does not exist: set MODEL_DIR/,
  ],
  // Each of these fails before the port is bound, with a message naming the file.
  [
    'a model.onnx cut right after its graph',
    (dir) => truncateSync(onnxOf(dir), onnxGraphEnd(onnxOf(dir))),
    /model\.onnx is not a valid ONNX model \(no opset_import after the graph\)/,
  ],
  [
    'a tokenizer.json that is JSON but not a tokenizer',
    (dir) =>
      writeFileSync(
        path.join(dir, 'tokenizer.json'),
        JSON.stringify({ model: { vocab: { a: 0, b: 1 } }, added_tokens: [] }),
      ),
    /tokenizer\.json is not a tokenizer the tokenizers library can load \(.+\): copy the tokenizer\.json saved with this model/,
  ],
  [
    'tokenizer.json = null',
    (dir) => writeFileSync(path.join(dir, 'tokenizer.json'), 'null'),
    /tokenizer\.json holds null, not a tokenizer object/,
  ],
  [
    'config.json = null',
    (dir) => writeFileSync(path.join(dir, 'config.json'), 'null'),
    /config\.json holds null, not a JSON object: copy the file saved with this model/,
  ],
  [
    'tokenizer_config.json = null',
    (dir) => writeFileSync(path.join(dir, 'tokenizer_config.json'), 'null'),
    /tokenizer_config\.json holds null, not a JSON object/,
  ],
  [
    'a config.json that is not JSON',
    (dir) => writeFileSync(path.join(dir, 'config.json'), '{"pad_token_id": 1,'),
    /config\.json is not valid JSON \(.+\)/,
  ],
];

/** Byte offset where the top-level graph field (7) of an ONNX file ends. */
function onnxGraphEnd(file: string): number {
  const b = readFileSync(file);
  let p = 0;
  const varint = () => {
    let v = 0;
    for (let m = 1; ; m *= 128) {
      const x = b[p++]!;
      v += (x & 127) * m;
      if ((x & 128) === 0) return v;
    }
  };
  while (p < b.length) {
    const tag = varint();
    if (tag % 8 === 0) varint();
    else if (tag % 8 === 2) {
      const len = varint();
      p += len;
    } else throw new Error('unexpected wire type');
    if (Math.floor(tag / 8) === 7) return p;
  }
  throw new Error('no graph');
}

t.test('the embedded model passes the checks', async (t) => {
  const summary = checkModel(readModelDir(EMBEDDED));
  t.same(summary.inputs, ['input_ids', 'attention_mask']);
  t.equal(summary.embeddingRows, 8002);
  t.same(readOnnxSummary(path.join(EMBEDDED, 'onnx', 'model_int8_weights.onnx')).inputs, [
    'input_ids',
    'attention_mask',
  ]);
  t.equal(tokenizerMaxId({ model: { vocab: { a: 0, b: 7 } }, added_tokens: [{ id: 9 }] }), 9);
});

for (const [name, breakIt, message] of cases) {
  t.test(`start-up fails on ${name}: one line naming the file and the fix, exit 1, port never bound`, async (t) => {
    const dir = copyModel(name.replace(/\W+/g, '-'));
    breakIt(dir);
    const r = await serve(dir);
    t.equal(r.code, 1, 'exit code 1');
    t.notOk(r.bound, 'the port was never bound');
    const lines = r.stderr.trim().split('\n');
    t.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
    t.match(lines[0], /^ko-rerank: /);
    t.match(lines[0], message);
  });
}
