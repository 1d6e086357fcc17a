// Failure isolation: when a micro-batch's run throws, it is split in halves and retried; only the request owning
// the row that fails alone gets an error (type backend); the requests batched with it succeed with the logits
// they get when run alone.
import t from 'tap';
import { buildApp } from '../../src/app.ts';
import { createEngine } from '../../src/compose.ts';
import { SplitRetryBackend } from '../../src/backend/split-retry.ts';
import { Batcher } from '../../src/core/batcher.ts';
import { testConfig } from '../helpers/server.ts';
import { ScriptedBackend, metricValue } from '../helpers/scripted-backend.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test(
  'SplitRetryBackend: only the rows that fail alone are reported failed, the others keep their logits',
  async (t) => {
    const inner = new ScriptedBackend(1);
    inner.poison = 99;
    const split = new SplitRetryBackend(inner);
    const seqs = Array.from({ length: 13 }, (_, i) => [0, 10 + i, 20 + i, 2]);
    seqs[4] = [0, 99, 2];
    seqs[11] = [0, 5, 99, 7, 2];
    const out = await split.run(Batcher.buildTensors(seqs, 1));
    t.same(out.failed?.rows, [4, 11]);
    t.match(out.failed?.message, /poisoned row/);
    seqs.forEach((s, r) => {
      if (r !== 4 && r !== 11) t.equal(out.logits[r], Math.fround(ScriptedBackend.logit(s)), `row ${r}`);
    });
    t.ok(inner.runs <= 1 + 2 * 2 * Math.ceil(Math.log2(13)) + 2, `bounded retries (${inner.runs} runs)`);
    inner.rows = 0;
    const clean = await split.run(
      Batcher.buildTensors(
        seqs.filter((_, r) => r !== 4 && r !== 11),
        1,
      ),
    );
    t.equal(clean.failed, undefined);
    t.equal(inner.rows, 11, 'a run that works is not retried');
  },
);

t.test('a poisoned request fails alone; the good requests batched with it succeed', async (t) => {
  // A budget where one micro-batch of these 8 short pairs is clearly the cheapest (the CPU default of 2048 makes the
  // batcher's per-run cost small enough that it may split them by length).
  const config = testConfig({ maxBatchSize: 64, maxWaitMs: 5, maxBatchTokens: 16384 });
  const backend = new ScriptedBackend(1);
  const engine = createEngine(config, { backend });
  await engine.start();
  const app = await buildApp(config, engine);
  t.teardown(() => app.close().then(() => engine.close()));
  const good1 = {
    query: '대한민국의 수도는?',
    passages: ['서울은 대한민국의 수도이다.', '김치는 전통 음식이다.', '부산은 항구 도시다.'],
  };
  const good2 = { query: '김치란?', passages: ['김치는 발효 음식이다.', '한강은 서울을 흐른다.'] };
  const bad = { query: '질문', passages: ['평범한 문장', '독약이 든 문장 ☠', '또 평범한 문장'] };
  // The poison: a token id of the poisoned passage that no good passage has.
  const goodIds = new Set(
    (
      await engine.encodePairs([
        ...good1.passages.map((p) => [good1.query, p] as const),
        ...good2.passages.map((p) => [good2.query, p] as const),
        ...bad.passages.filter((_, i) => i !== 1).map((p) => [bad.query, p] as const),
      ])
    ).flatMap((e) => e.ids),
  );
  const [poisoned] = await engine.encodePairs([[bad.query, bad.passages[1]!]]);
  const poison = poisoned!.ids.find((id) => !goodIds.has(id));
  t.ok(poison !== undefined, 'found a poison token id');

  const post = (body: unknown) => app.inject({ method: 'POST', url: '/rerank', payload: body as object });
  const alone1 = (await post(good1)).json();
  const alone2 = (await post(good2)).json();

  backend.poison = poison;
  backend.batches = [];
  let open!: () => void;
  backend.gate = new Promise((r) => (open = r));
  const blocker = post({ query: '막는 요청', passages: ['가'] }); // holds the one slot so the next three queue up together
  while (backend.batches.length === 0) await sleep(5);
  const all = Promise.all([post(good1), post(bad), post(good2)]);
  // all three tokenized and in the batcher's queue (admission counts pairs before tokenization)
  const queued = async () => (await engine.metrics.queueSize.get()).values[0]?.value ?? 0;
  while ((await queued()) < 8) await sleep(5);
  backend.gate = undefined;
  open();
  const [r1, rb, r2] = await all;
  await blocker;
  t.equal(backend.batches[1], 8, 'the three requests shared one micro-batch (3 + 3 + 2 rows)');
  t.equal(r1.statusCode, 200);
  t.equal(r2.statusCode, 200);
  t.same(r1.json().results, alone1.results, 'good request 1: same results as alone');
  t.same(r2.json().results, alone2.results, 'good request 2: same results as alone');
  t.equal(rb.statusCode, 500);
  t.equal(rb.json().error.type, 'backend');
  t.match(rb.json().error.message, /inference failed: CUDA out of memory \(poisoned row\)/);
  const m = await (await app.inject({ method: 'GET', url: '/metrics' })).body;
  t.ok(metricValue(m, 'ko_rerank_batch_splits_total') >= 3, 'the batch was split');
  t.equal(metricValue(m, 'ko_rerank_failed_pairs_total'), 1, 'one pair failed alone');
  backend.poison = undefined;
  t.equal((await post(bad)).statusCode, 200, 'the same request passes once the backend takes it');
});
