// A dead or hung inference worker is noticed and replaced, through a real server on 127.0.0.1 with the real ONNX
// worker: POST /debug/fault (test/helpers/faults.ts) makes the worker exit, throw, or block inside its next run. The
// service answers correctly afterwards, /ready reports the gap, every restart is counted; when restarts keep failing,
// /health turns 503 so the orchestrator restarts the pod.
import { cpSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { startServer, type TestServer } from '../helpers/server.ts';
import { metricValue } from '../helpers/scripted-backend.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const body = {
  query: '대한민국의 수도는 어디인가?',
  passages: ['김치는 발효 음식이다.', '서울은 대한민국의 수도이다.', '부산은 항구 도시이다.'],
};

async function until(what: string, ok: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (await ok()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const restarts = async (s: TestServer, reason: string) =>
  metricValue((await s.get('/metrics')).text, `ko_rerank_worker_restarts_total{reason="${reason}"}`);

t.test('exit, crash and hang: the worker is replaced and the service answers correctly after each', async (t) => {
  const s = await startServer({ watchdogMs: 1500 }, { faults: true });
  t.teardown(() => s.close());
  const baseline = await s.post('/rerank', body);
  t.equal(baseline.status, 200);
  t.equal(baseline.body.results[0].index, 1);

  for (const [kind, reason] of [
    ['exit', 'exit'],
    ['crash', 'error'],
  ] as const) {
    const before = await restarts(s, reason);
    const r = await s.post('/debug/fault', { kind });
    t.equal(r.status, 202, `${kind} injected`);
    await until(`a restart counted for ${kind}`, async () => (await restarts(s, reason)) === before + 1);
    await until('/ready after the restart', async () => (await s.get('/ready')).status === 200);
    const after = await s.post('/rerank', body);
    t.equal(after.status, 200, `answers after ${kind}`);
    t.same(after.body.results, baseline.body.results, `same answer after ${kind}`);
  }

  // Hang: the next run blocks its thread. The request that owned it fails (500 backend, not retried onto the new
  // worker), the watchdog replaces the worker, and the next request is answered by the new one.
  const hangsBefore = await restarts(s, 'hang');
  t.equal((await s.post('/debug/fault', { kind: 'hang' })).status, 202);
  const t0 = performance.now();
  const held = await s.post('/rerank', body);
  const heldMs = performance.now() - t0;
  t.equal(held.status, 500, 'the request held by the hung worker fails');
  t.equal(held.body.error.type, 'backend');
  t.match(
    held.body.error.message,
    /inference worker hung: a session\.run of \d+ padded tokens took longer than 1500 ms \(WATCHDOG_MS\).*retry/,
  );
  t.ok(heldMs < 15_000, `the hang was noticed in bounded time (${Math.round(heldMs)} ms)`);
  t.equal(await restarts(s, 'hang'), hangsBefore + 1, 'the hang is counted');
  await until('/ready after the hang', async () => (await s.get('/ready')).status === 200);
  const after = await s.post('/rerank', body);
  t.equal(after.status, 200);
  t.same(after.body.results, baseline.body.results, 'same answer after the hang');
  t.equal((await s.get('/health')).status, 200, '/health stays 200 while restarts succeed');
});

t.test('a hung worker is noticed within seconds, idle or mid-run, with short request deadlines', async (t) => {
  // Default WATCHDOG_MS; requests give up after 3 s, long before the old 10 s watchdog floor.
  const s = await startServer({ requestTimeoutMs: 3000 }, { faults: true });
  t.teardown(() => s.close());
  const baseline = await s.post('/rerank', body);
  t.equal(baseline.status, 200);
  /** ms from now until /ready answers 503 (the hang noticed), or Infinity after `ms`. */
  const noticed = async (ms = 15_000) => {
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      if ((await s.get('/ready')).status === 503) return performance.now() - t0;
      await sleep(50);
    }
    return Infinity;
  };
  for (const kind of ['hang-idle', 'hang'] as const) {
    const before = await restarts(s, 'hang');
    t.equal((await s.post('/debug/fault', { kind })).status, 202, `${kind} injected`);
    // hang-idle: no request at all, only the heartbeat can tell. hang: a request's run hangs the worker.
    const held = kind === 'hang' ? s.post('/rerank', body) : undefined;
    const ms = await noticed();
    t.ok(ms < 6000, `${kind}: /ready turned 503 ${Math.round(ms)} ms after the hang`);
    if (held) {
      const r = await held;
      t.ok([500, 503].includes(r.status), `the request held by the hung run fails (${r.status})`);
      if (r.status === 500)
        t.match(r.body.error.message, /a session\.run of \d+ padded tokens took longer than \d+ ms/, 'the run bound');
    }
    await until(`a hang counted for ${kind}`, async () => (await restarts(s, 'hang')) === before + 1, 10_000);
    await until(`/ready after ${kind}`, async () => (await s.get('/ready')).status === 200);
    const after = await s.post('/rerank', body);
    t.equal(after.status, 200, `answers after ${kind}`);
    t.same(after.body.results, baseline.body.results, `same answer after ${kind}`);
  }
});

t.test('requests that arrive while no worker is up wait for the restart instead of failing', async (t) => {
  const s = await startServer({}, { faults: true });
  t.teardown(() => s.close());
  t.equal((await s.post('/debug/fault', { kind: 'exit' })).status, 202);
  // Runs posted before the exit are held by the dying worker (they fail); these are sent once it is gone.
  let ready: { status: number; body: any } = { status: 200, body: undefined };
  while (ready.status === 200) ready = await s.get('/ready');
  t.same(ready.body, { status: 'restarting' }, '/ready says 503 restarting while no worker is up');
  const answers = await Promise.all(Array.from({ length: 6 }, () => s.post('/rerank', body)));
  t.same(
    answers.map((a) => a.status),
    [200, 200, 200, 200, 200, 200],
  );
  for (const a of answers) t.equal(a.body.results[0].index, 1);
});

t.test('restarts that keep failing: /health and /ready turn 503 (failed), requests get 503 not_ready', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'ko-rerank-restart-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, 'model');
  cpSync('models/ko-reranker-tiny', dir, {
    recursive: true,
    filter: (src) => !src.endsWith('.safetensors') && !src.endsWith('model_int8_weights.onnx'),
  });
  const s = await startServer({ modelDir: dir, workerMaxRestarts: 2 }, { faults: true });
  t.teardown(() => s.close());
  t.equal((await s.post('/rerank', body)).status, 200);
  // The model volume goes away under the running pod; then the worker dies.
  unlinkSync(path.join(dir, 'onnx', 'model.onnx'));
  t.equal((await s.post('/debug/fault', { kind: 'exit' })).status, 202);
  await until('/health 503', async () => (await s.get('/health')).status === 503);
  t.same((await s.get('/health')).body, { status: 'failed' });
  const ready = await s.get('/ready');
  t.equal(ready.status, 503);
  t.same(ready.body, { status: 'failed' });
  const r = await s.post('/rerank', body);
  t.equal(r.status, 503);
  t.equal(r.body.error.type, 'not_ready');
  t.match(
    r.body.error.message,
    /no inference worker is running and restarts stopped: 3 worker starts in a row failed .*WORKER_MAX_RESTARTS=2/,
  );
  t.equal(metricValue((await s.get('/metrics')).text, 'ko_rerank_worker_restart_failures_total'), 3);
});
