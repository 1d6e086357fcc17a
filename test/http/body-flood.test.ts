// A flood of large bodies is admitted or refused before the bodies are read: past
// MAX_INFLIGHT_BODY_BYTES a request gets 429 overloaded with Retry-After at once, the client reads it (no reset), the
// bodies in progress are bounded, and the gauge is back to 0 afterwards. Through a real server on 127.0.0.1.
import t from 'tap';
import { startServer } from '../helpers/server.ts';
import { metricValue } from '../helpers/scripted-backend.ts';

t.test('32 concurrent 1 MiB requests with a 3 MiB body budget', async (t) => {
  const s = await startServer({ maxInflightBodyBytes: 3 * 1024 * 1024 });
  t.teardown(() => s.close());
  const body = JSON.stringify({
    query: '대한민국의 수도는?',
    passages: Array.from({ length: 200 }, (_, i) =>
      i === 7 ? '서울은 대한민국의 수도이다.' : `${i}: ${'김치는 한국의 전통 발효 음식이다. '.repeat(90)}`,
    ),
  });
  t.ok(Buffer.byteLength(body) > 800_000, `body of ${Buffer.byteLength(body)} bytes`);
  const t0 = performance.now();
  const answers = await Promise.all(
    Array.from({ length: 32 }, () =>
      fetch(s.base + '/rerank', { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(
        async (r) => ({
          status: r.status,
          ms: performance.now() - t0,
          retryAfter: r.headers.get('retry-after'),
          body: (await r.json()) as any,
        }),
        (e: Error & { cause?: { code?: string } }) => ({
          status: 0,
          ms: performance.now() - t0,
          retryAfter: null,
          body: e.cause?.code ?? e.message,
        }),
      ),
    ),
  );
  const ok = answers.filter((a) => a.status === 200);
  const refused = answers.filter((a) => a.status === 429);
  t.comment(
    `${ok.length} answered 200, ${refused.length} refused 429; slowest 429 at ${Math.round(Math.max(...refused.map((a) => a.ms)))} ms, first 200 at ${Math.round(Math.min(...ok.map((a) => a.ms)))} ms`,
  );
  t.same(
    answers
      .filter((a) => a.status !== 200 && a.status !== 429)
      .map((a) => `${a.status} ${JSON.stringify(a.body).slice(0, 100)}`),
    [],
    'every request answered 200 or 429',
  );
  t.ok(ok.length >= 1, 'some are served');
  t.ok(refused.length >= 16, 'most are refused: at most 3 bodies held at once (and the ones answered meanwhile)');
  for (const a of refused) {
    t.equal(a.body.error.type, 'overloaded');
    t.match(a.body.error.message, /MAX_INFLIGHT_BODY_BYTES=3145728/);
    t.ok(a.retryAfter, 'Retry-After');
  }
  for (const a of ok) t.equal(a.body.results[0].index, 7);
  const m = (await s.get('/metrics')).text;
  t.equal(metricValue(m, 'ko_rerank_inflight_body_bytes'), 0, 'nothing held once all are answered');
  t.equal(metricValue(m, 'ko_rerank_admitted_pairs'), 0);
});
