// With a misbehaving backend: inference errors answer 500 in the error shape and the server keeps serving;
// NaN logits never crash a request.
import t from 'tap';
import { buildApp } from '../../src/app.ts';
import { Engine } from '../../src/core/engine.ts';
import type { Backend, BackendResult, TensorBatch } from '../../src/backend/onnx.ts';
import { testConfig } from '../helpers/server.ts';

class ScriptedBackend implements Backend {
  readonly slots = 1;
  mode: 'fail' | 'nan' | 'ok' = 'ok';
  async run(b: TensorBatch): Promise<BackendResult> {
    if (this.mode === 'fail') throw new Error('device lost');
    const logits = new Float32Array(b.rows).map((_, r) => (this.mode === 'nan' && r === 0 ? NaN : r));
    return { logits, inferenceMs: 0 };
  }
  async close() {}
}

const config = testConfig();
const backend = new ScriptedBackend();
const engine = new Engine(config);
await engine.start(backend);
const app = await buildApp(config, engine);
t.teardown(() => app.close());

const rerank = () => app.inject({ method: 'POST', url: '/rerank', payload: { query: '질문', passages: ['가', '나', '다'] } });

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

t.test('a NaN logit is sorted last and does not break the response', async (t) => {
  backend.mode = 'nan';
  const res = await rerank();
  t.equal(res.statusCode, 200);
  const results = res.json().results;
  t.equal(results.length, 3);
  t.equal(results[2].score, 0, 'NaN gets score 0');
  t.equal(results[2].logit, null, 'NaN is sent as null');
  t.equal(results[2].index, 0);
  t.ok(Math.abs(results[0].score + results[1].score - 1) < 1e-9, 'the others share the softmax');
  backend.mode = 'ok';
});
