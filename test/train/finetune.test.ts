// `ko-rerank finetune` end to end on CPU: the embedded model fine-tuned for a few steps on the training fixture
// (test/fixtures/finetune, from data/msmarco-ko), exported, evaluated, calibrated; the loss falls, the output directory
// is served by the real server with the PyTorch checkpoint's logits (fp32 export, within 1e-4), and its calibrated
// scores lie in [0, 1] and rise with the logit. Then `ko-rerank calibrate` refits on the same directory.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { readModelDir } from '../../src/backend/model-dir.ts';
import type { Output } from '../../src/eval/command.ts';
import { runCalibrate } from '../../src/train/calibrate.ts';
import { runFinetune } from '../../src/train/finetune.ts';
import { pythonPath } from '../../src/train/python.ts';
import { DEFAULT_MODEL_DIR, startServer } from '../helpers/server.ts';

// Training, two exports and two held-out evaluations on two shared CPU cores.
t.setTimeout(20 * 60_000);

const FIXTURE = 'test/fixtures/finetune';
const PAIRS: [string, string][] = [
  ['대한민국의 수도는 어디인가요?', '서울은 대한민국의 수도이며 최대 도시입니다.'],
  ['대한민국의 수도는 어디인가요?', '부산은 대한민국 제2의 도시로 해운대 해수욕장이 유명합니다.'],
  ['김치 만드는 법', '배추를 소금에 절인 뒤 고춧가루, 마늘, 젓갈로 만든 양념을 버무립니다.'],
  ['아이폰 15 배터리 용량', '아이폰 15 Pro Max의 배터리 용량은 4,422mAh입니다.'],
];

function capture(): Output & { text: string } {
  const out = {
    text: '',
    write(chunk: string) {
      out.text += chunk;
      process.stderr.write(chunk);
      return true;
    },
  };
  return out;
}

/** The PyTorch checkpoint's logits (transformers), the reference the served export must equal. */
function torchLogits(checkpoint: string): number[] {
  const code = `
import json, sys, torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
pairs = json.loads(sys.argv[2])
tok = AutoTokenizer.from_pretrained(sys.argv[1])
model = AutoModelForSequenceClassification.from_pretrained(sys.argv[1]).float().eval()
with torch.no_grad():
    enc = tok([q for q, _ in pairs], [p for _, p in pairs], padding=True, truncation=True, max_length=512, return_tensors="pt")
    print(json.dumps(model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.view(-1).tolist()))
`;
  const res = spawnSync(pythonPath(process.env), ['-c', code, checkpoint, JSON.stringify(PAIRS)], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (res.status !== 0) throw new Error(`PyTorch reference failed: ${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').at(-1)!);
}

// The training Python (`npm run setup:train`), installed on first use like the other Python steps of CI.
if (!process.env.KO_RERANK_PYTHON) {
  const probe = spawnSync(pythonPath(process.env), ['-c', 'import torch, transformers, matplotlib'], {
    stdio: 'ignore',
  });
  if (probe.status !== 0) {
    const setup = spawnSync('bash', ['scripts/setup-train.sh'], { stdio: ['ignore', 2, 2], timeout: 1_200_000 });
    if (setup.status !== 0) throw new Error('npm run setup:train failed');
  }
}

const isPng = (file: string) => readFileSync(file).subarray(0, 8).toString('hex') === '89504e470d0a1a0a';

t.test('finetune: train, export, evaluate, calibrate, serve', async (t) => {
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'ko-rerank-finetune-')), 'run');
  const stdout = capture();
  const stderr = capture();
  const code = await runFinetune(
    [
      ...['--base', DEFAULT_MODEL_DIR, '--data', `${FIXTURE}/train.jsonl`, '--eval', `${FIXTURE}/eval.jsonl`],
      ...['--out', out, '--max-steps', '3', '--grad-accum', '8', '--train-group-size', '4', '--lr', '1e-4'],
      ...['--max-len', '64', '--eval-queries', '4', '--probe-groups', '24', '--threads', '1'],
    ],
    process.env,
    { stdout, stderr },
  );
  t.equal(code, 0, stderr.text.slice(-2000));

  // The loss falls: the trained groups' loss (no dropout) after 3 steps is below what it was before.
  const log = JSON.parse(readFileSync(path.join(out, 'training/log.json'), 'utf8'));
  t.equal(log.steps, 3);
  t.equal(log.log.loss.length, 3);
  t.equal(log.probe.groups, 24);
  t.ok(log.probe.loss_after < log.probe.loss_before, `loss ${log.probe.loss_before} -> ${log.probe.loss_after}`);
  t.equal(log.heldout_queries, 12);

  // Before/after on the held-out split, through the engine, as the table printed.
  const ev = JSON.parse(readFileSync(path.join(out, 'training/evaluation.json'), 'utf8'));
  for (const row of [ev.bm25, ev.before, ev.after]) {
    t.equal(row.queries, 12);
    for (const k of ['has_right_in_contexts', 'mrr', 'hit_at_1', 'hit_at_5', 'ndcg_at_10'])
      t.ok(row[k] >= 0 && row[k] <= 1, k);
  }
  t.match(stdout.text, /\| after \(fine-tuned\) \| /);
  t.match(stdout.text, /serve it: MODEL_DIR=/);

  // The served directory: fp32 export, calibration, card with its plots.
  const modelDir = path.join(out, 'model');
  const model = readModelDir(modelDir);
  t.equal(path.basename(model.onnxPath), 'model.onnx');
  t.ok(model.calibration && model.calibration.a > 0, 'calibration.json with a rising slope');
  const card = readFileSync(path.join(modelDir, 'README.md'), 'utf8');
  for (const s of ['## Recipe', '## Held-out evaluation', 'before (base)', '## Calibrated scores', 'training.png'])
    t.match(card, s);
  t.ok(isPng(path.join(modelDir, 'training.png')));
  t.ok(isPng(path.join(modelDir, 'reliability.png')));
  t.ok(existsSync(path.join(out, 'checkpoint/model.safetensors')));

  // Served by the real server: the logits equal the PyTorch checkpoint's.
  const srv = await startServer({ modelDir, modelFile: 'model.onnx' });
  t.teardown(() => srv.close());
  const res = await srv.post('/score', { pairs: PAIRS, normalize: 'none' });
  t.equal(res.status, 200);
  const served = new Array<number>(PAIRS.length);
  for (const r of res.body.results as { index: number; logit: number }[]) served[r.index] = r.logit;
  const reference = torchLogits(path.join(out, 'checkpoint'));
  const diff = Math.max(...reference.map((x, i) => Math.abs(x - served[i]!)));
  t.ok(diff < 1e-4, `max |served - PyTorch| = ${diff}`);

  // Calibrated: in [0, 1], rising with the logit.
  const cal = await srv.post('/score', { pairs: PAIRS, normalize: 'calibrated' });
  t.equal(cal.status, 200);
  const results = cal.body.results as { logit: number; score: number }[];
  for (const r of results) t.ok(r.score >= 0 && r.score <= 1);
  for (let i = 1; i < results.length; i++)
    if (results[i]!.logit < results[i - 1]!.logit) t.ok(results[i]!.score < results[i - 1]!.score, 'rises with logit');

  // `ko-rerank calibrate` refits the same directory on the eval fixture, scoring with the engine.
  const calOut = capture();
  const calCode = await runCalibrate(
    ['--model', modelDir, '--data', `${FIXTURE}/eval.jsonl`, '--corpus', `${FIXTURE}/train.jsonl`, '--device', 'cpu'],
    process.env,
    { stdout: calOut, stderr: capture() },
  );
  t.equal(calCode, 0);
  const refit = JSON.parse(readFileSync(path.join(modelDir, 'calibration.json'), 'utf8'));
  t.match(refit.source, /12 queries of test\/fixtures\/finetune\/eval\.jsonl/);
  t.equal(refit.pairs, 12 * 20);
});

t.test('usage errors', async (t) => {
  const err = capture();
  t.equal(await runFinetune(['--base', DEFAULT_MODEL_DIR], process.env, { stdout: capture(), stderr: err }), 2);
  t.match(err.text, /--base DIR, --data FILE and --out DIR are required/);
  t.equal(
    await runFinetune(['--base', 'x', '--data', 'nope.jsonl', '--out', 'o'], process.env, {
      stdout: capture(),
      stderr: capture(),
    }),
    2,
  );
  t.equal(await runCalibrate(['--model', 'x'], process.env, { stdout: capture(), stderr: capture() }), 2);
});
