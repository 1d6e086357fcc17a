// With a scripted backend: inference errors answer 500 in the error shape and the server keeps serving;
// A NaN logit fails its request with a clear backend error, never a crash or a wrong sort; a client that goes
// away has its queued pairs dropped.
import t from 'tap';
import { buildApp } from '../../src/app.ts';
import { createEngine } from '../../src/compose.ts';
import type { Backend, BackendResult, TensorBatch } from '../../src/backend/contract.ts';
import { testConfig } from '../helpers/server.ts';

class ScriptedBackend implements Backend {
  readonly slots = 1;
  mode: 'fail' | 'nan' | 'ok' | 'slow' = 'ok';
  rows = 0;
  async run(b: TensorBatch): Promise<BackendResult> {
    this.rows += b.rows;
    if (this.mode === 'fail') throw new Error('device lost');
    if (this.mode === 'slow') await new Promise((r) => setTimeout(r, 300));
    const logits = new Float32Array(b.rows).map((_, r) => (this.mode === 'nan' && r === 0 ? NaN : r));
    return { logits, inferenceMs: 0 };
  }
  async close() {}
}

const config = testConfig();
const backend = new ScriptedBackend();
const engine = createEngine(config, { backend });
await engine.start();
const app = await buildApp(config, engine);
t.teardown(() => app.close());

const rerank = () =>
  app.inject({ method: 'POST', url: '/rerank', payload: { query: '질문', passages: ['가', '나', '다'] } });

t.test('a backend error is a 500 with the error shape, then the server serves again', async (t) => {
  backend.mode = 'fail';
  const res = await rerank();
  t.equal(res.statusCode, 500);
  t.equal(res.json().error.type, 'backend');
  t.match(res.json().error.message, /device lost/);
  backend.mode = 'ok';
  const ok = await rerank();
  t.equal(ok.statusCode, 200);
  t.equal(ok.json().results.length, 3);
});

t.test(
  'a NaN logit fails its request with a backend error naming the passage, and the server keeps serving',
  async (t) => {
    backend.mode = 'nan';
    const res = await rerank();
    t.equal(res.statusCode, 500);
    t.equal(res.json().error.type, 'backend');
    t.match(res.json().error.message, /non-finite logit for passages at index 0/);
    backend.mode = 'ok';
    const again = await rerank();
    t.equal(again.statusCode, 200);
    t.equal(again.json().results.length, 3);
  },
);

t.test('a client that disconnects has its queued pairs dropped', async (t) => {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const post = (passages: string[], signal?: AbortSignal) =>
    fetch(`http://127.0.0.1:${port}/rerank`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '질문', passages }),
      signal,
    });
  backend.mode = 'slow';
  backend.rows = 0;
  const first = post(Array(64).fill('가')); // fills one micro-batch and keeps the backend busy
  await new Promise((r) => setTimeout(r, 50));
  const ac = new AbortController();
  const second = post(Array(40).fill('나'), ac.signal);
  await new Promise((r) => setTimeout(r, 50));
  ac.abort();
  await t.rejects(second);
  t.equal((await first).status, 200);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(backend.rows, 64, 'only the first request reached the backend');
  backend.mode = 'ok';
  t.equal((await post(['다'])).status, 200, 'the server keeps serving');
});
