// normalize "calibrated": the Platt formula, calibration.json read (or refused) with the model directory, and the real
// server answering it on a model with a calibration, and refusing it (422) on one without.
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ModelDirError, readModelDir } from '../../src/backend/model-dir.ts';
import { calibrated, normalizeScores, sigmoid } from '../../src/core/scores.ts';
import { startServer, TINY_MODEL_DIR } from '../helpers/server.ts';

const QUERY = '대한민국의 수도는 어디인가요?';
const PASSAGES = [
  '서울은 대한민국의 수도이며 최대 도시입니다.',
  '부산은 대한민국 제2의 도시로 해운대 해수욕장이 유명합니다.',
  '김치는 배추를 소금에 절여 만듭니다.',
  '대한민국의 수도 서울에는 약 천만 명이 삽니다.',
];

function modelWith(calibration: unknown): string {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'ko-rerank-cal-')), 'tiny-calibrated');
  cpSync(TINY_MODEL_DIR, dir, { recursive: true });
  writeFileSync(path.join(dir, 'calibration.json'), JSON.stringify(calibration));
  return dir;
}

t.test('the formula: sigmoid(a x + b), rising with the logit, in [0, 1]', async (t) => {
  const c = { a: 0.5, b: -2 };
  t.equal(calibrated(4, c), sigmoid(0));
  t.equal(calibrated(Number.NaN, c), 0);
  const xs = [-50, -3, 0, 1.5, 7, 60];
  const ps = normalizeScores(xs, 'calibrated', c);
  for (let i = 0; i < ps.length; i++) {
    t.ok(ps[i]! >= 0 && ps[i]! <= 1);
    if (i > 0) t.ok(ps[i]! >= ps[i - 1]!, 'non-decreasing');
  }
  t.ok(ps[3]! > ps[2]!, 'strictly rising where the sigmoid is not saturated');
  t.throws(() => normalizeScores(xs, 'calibrated'), /needs a calibration/);
});

t.test('calibration.json: read with the model directory, a wrong one refused with a clear message', async (t) => {
  const dir = modelWith({ method: 'platt', a: 0.8, b: -1.2, pairs: 240, fitted_at: '2026-12-04T00:00:00+00:00' });
  t.same(readModelDir(dir).calibration, {
    method: 'platt',
    a: 0.8,
    b: -1.2,
    pairs: 240,
    fittedAt: '2026-12-04T00:00:00+00:00',
  });
  t.equal(readModelDir(TINY_MODEL_DIR).calibration, undefined);
  for (const [bad, why] of [
    [{ method: 'isotonic', a: 1, b: 0 }, /method "isotonic" is not "platt"/],
    [{ method: 'platt', a: -0.3, b: 0 }, /slope a = -0.3 is not positive/],
    [{ method: 'platt', a: '1', b: 0 }, /must be finite numbers/],
    [[1, 2], /not a JSON object/],
  ] as const) {
    t.throws(() => readModelDir(modelWith(bad)), why);
    t.throws(() => readModelDir(modelWith(bad)), ModelDirError);
  }
});

t.test('the server: calibrated scores on /rerank and /score, 422 without a calibration', async (t) => {
  const cal = { method: 'platt', a: 0.9, b: -0.5, pairs: 100 };
  const srv = await startServer({ modelDir: modelWith(cal) });
  t.teardown(() => srv.close());
  const info = await srv.get('/info');
  t.same(info.body.calibration, cal);

  const r = await srv.post('/rerank', { query: QUERY, passages: PASSAGES, normalize: 'calibrated' });
  t.equal(r.status, 200, JSON.stringify(r.body));
  const results = r.body.results as { logit: number; score: number }[];
  for (const x of results) {
    t.ok(x.score >= 0 && x.score <= 1);
    t.ok(Math.abs(x.score - sigmoid(0.9 * x.logit - 0.5)) < 1e-12, 'the fitted formula');
  }
  for (let i = 1; i < results.length; i++) {
    // Sorted by logit, highest first: the probability falls with it.
    if (results[i]!.logit < results[i - 1]!.logit) t.ok(results[i]!.score < results[i - 1]!.score);
  }
  const s = await srv.post('/score', {
    pairs: PASSAGES.map((p) => [QUERY, p]),
    normalize: 'calibrated',
  });
  t.equal(s.status, 200);
  t.same(
    (s.body.results as { score: number }[]).map((x) => x.score),
    results.map((x) => x.score),
  );

  const plain = await startServer({ modelDir: TINY_MODEL_DIR });
  t.teardown(() => plain.close());
  t.equal((await plain.get('/info')).body.calibration, null);
  for (const [route, body] of [
    ['/rerank', { query: QUERY, passages: PASSAGES, normalize: 'calibrated' }],
    ['/score', { pairs: [[QUERY, PASSAGES[0]]], normalize: 'calibrated' }],
  ] as const) {
    const res = await plain.post(route, body);
    t.equal(res.status, 422, route);
    t.equal(res.body.error.type, 'validation');
    t.match(res.body.error.message, /has no calibration .*ko-rerank calibrate/);
  }
});
