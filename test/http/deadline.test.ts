// Deadlines and client disconnects: a request past its own timeout_ms gets 504 (type deadline_exceeded), one past the server's
// REQUEST_TIMEOUT_MS 503 (type timeout, Retry-After), and one whose client has gone is dropped; each way its queued
// pairs are removed before they reach the model (counted in ko_rerank_dropped_pairs_total{reason}) and no inference
// is spent on them.
import t from 'tap';
import { buildApp } from '../../src/app.ts';
import { createEngine } from '../../src/compose.ts';
import { testConfig } from '../helpers/server.ts';
import { ScriptedBackend, metricValue } from '../helpers/scripted-backend.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function server(overrides = {}) {
  const config = testConfig({ maxBatchSize: 64, ...overrides });
  const backend = new ScriptedBackend(1);
  const engine = createEngine(config, { backend });
  await engine.start();
  const app = await buildApp(config, engine);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const post = (path: string, body: unknown, signal?: AbortSignal) =>
    fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
  const metrics = async () => (await fetch(base + '/metrics')).text();
  return { app, engine, backend, post, metrics, close: () => app.close().then(() => engine.close()) };
}

/** Holds the backend's next runs until the returned function is called. */
function hold(backend: ScriptedBackend): () => void {
  let open!: () => void;
  backend.gate = new Promise((r) => (open = r));
  return () => {
    backend.gate = undefined;
    open();
  };
}

const passages = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag} 문단 ${i}`);

t.test(
  "timeout_ms: past the client's own deadline the request is 504 deadline_exceeded and its queued pairs never reach the model",
  async (t) => {
    const s = await server({ requestTimeoutMs: 30_000 });
    t.teardown(s.close);
    const open = hold(s.backend);
    const first = s.post('/rerank', { query: '질문', passages: passages(64, '가') }); // one full micro-batch, holds the backend
    while (s.backend.batches.length === 0) await sleep(5);
    const t0 = performance.now();
    const late = await s.post('/rerank', { query: '질문', passages: passages(40, '나'), timeout_ms: 100 });
    t.equal(late.status, 504, "the client's deadline: 504 Gateway Timeout (gRPC DEADLINE_EXCEEDED), not 408");
    t.ok(performance.now() - t0 < 5_000, 'answered at its deadline, not after the queue drained');
    const body = (await late.json()) as any;
    t.equal(body.error.type, 'deadline_exceeded');
    t.match(
      body.error.message,
      /100 ms deadline \(timeout_ms\).*larger timeout_ms \(at most REQUEST_TIMEOUT_MS=30000\)/,
    );
    t.equal(late.headers.get('retry-after'), null, "no Retry-After: the deadline was the client's");
    open();
    t.equal((await first).status, 200);
    await sleep(100);
    t.equal(s.backend.rows, 64, 'only the first request reached the backend');
    const m = await s.metrics();
    t.equal(metricValue(m, 'ko_rerank_dropped_pairs_total{reason="timeout"}'), 40);
    t.equal(metricValue(m, 'ko_rerank_dropped_pairs_total{reason="disconnect"}'), 0);
    t.equal(metricValue(m, 'ko_rerank_admitted_pairs'), 0, 'nothing left admitted');
    const again = await s.post('/rerank', { query: '질문', passages: ['다'] });
    t.equal(again.status, 200, 'the server keeps serving');
  },
);

t.test(
  'REQUEST_TIMEOUT_MS is the default deadline and caps a larger timeout_ms, on every inference route: 503 with Retry-After',
  async (t) => {
    const s = await server({ requestTimeoutMs: 150 });
    t.teardown(s.close);
    s.backend.delayMs = 600;
    const bodies: [string, unknown][] = [
      ['/rerank', { query: 'q', passages: ['a', 'b'], timeout_ms: 60_000 }],
      ['/score', { pairs: [['q', 'a']] }],
      ['/v1/rerank', { query: 'q', documents: ['a'], timeout_ms: 60_000 }],
      ['/v2/rerank', { model: 'm', query: 'q', documents: ['a'] }],
      ['/invocations', { inputs: [{ text: 'q', text_pair: 'a' }], parameters: { timeout_ms: 60_000 } }],
    ];
    for (const [path, body] of bodies) {
      const r = await s.post(path, body);
      const json = (await r.json()) as any;
      t.equal(r.status, 503, path);
      t.equal(json.error.type, 'timeout', path);
      t.match(json.error.message, /150 ms deadline \(REQUEST_TIMEOUT_MS\)/, path);
      t.ok(r.headers.get('retry-after'), `${path}: Retry-After`);
    }
    // A timeout_ms equal to REQUEST_TIMEOUT_MS is the client's own deadline.
    const own = await s.post('/score', { pairs: [['q', 'a']], timeout_ms: 150 });
    t.equal(own.status, 504);
    t.equal(((await own.json()) as any).error.type, 'deadline_exceeded');
    const late = await s.post('/v1/rerank', { query: 'q', documents: ['a'], timeout_ms: 50 });
    t.equal(late.status, 504, 'the Cohere routes too');
    const toolkit = await s.post('/invocations', {
      inputs: [{ text: 'q', text_pair: 'a' }],
      parameters: { timeout_ms: 50 },
    });
    t.equal(toolkit.status, 504, '/invocations parameters.timeout_ms too');
  },
);

t.test('a client that disconnects has its queued pairs dropped and counted', async (t) => {
  const s = await server();
  t.teardown(s.close);
  const open = hold(s.backend);
  const first = s.post('/rerank', { query: '질문', passages: passages(64, '가') });
  while (s.backend.batches.length === 0) await sleep(5);
  const ac = new AbortController();
  const gone = s.post('/score', { pairs: passages(30, '나').map((p) => ['질문', p]) }, ac.signal);
  while (s.engine.admission.admitted < 64 + 30) await sleep(5); // queued behind the first
  ac.abort();
  await t.rejects(gone);
  while (s.engine.admission.admitted > 64) await sleep(5); // the server saw the disconnect
  open();
  t.equal((await first).status, 200);
  await sleep(100);
  t.equal(s.backend.rows, 64, 'no inference spent on the disconnected request');
  const m = await s.metrics();
  t.equal(metricValue(m, 'ko_rerank_dropped_pairs_total{reason="disconnect"}'), 30);
  t.equal(metricValue(m, 'ko_rerank_admitted_pairs'), 0);
});
