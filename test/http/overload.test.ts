// Backpressure: about 3 x what MAX_QUEUE_PAIRS admits, in closed loops over real HTTP with the embedded model.
// Only 200 / 429 / 503 come back, every 429 carries Retry-After, every accepted request succeeds with the right
// ranking, and the rejections are counted in the metrics.
import t from 'tap';
import { startServer } from '../helpers/server.ts';
import { metricValue } from '../helpers/scripted-backend.ts';

// 4 requests of 16 pairs fit under MAX_QUEUE_PAIRS=64; 12 clients ask for 3 x that.
const PAIRS = 16;
const srv = await startServer({ maxQueuePairs: 4 * PAIRS, maxBatchSize: 32 });
t.teardown(() => srv.close());

const query = '대한민국의 수도는 어디인가?';
const passages = Array.from({ length: PAIRS }, (_, i) =>
  i === 7
    ? '서울은 대한민국의 수도이며 가장 큰 도시이다.'
    : `${i}번째 문단: 김치는 배추와 고춧가루로 만드는 한국의 전통 발효 음식이다. 지역마다 맛이 다르다.`,
);

t.test('3 x capacity: only 200/429, Retry-After on every 429, all accepted succeed and rank right', async (t) => {
  const reference = await srv.post('/rerank', { query, passages });
  t.equal(reference.status, 200);
  const expected = reference.body.results.map((r: { index: number }) => r.index);
  t.equal(expected[0], 7);

  const counts: Record<string, number> = {};
  const problems: string[] = [];
  const TOTAL = 360;
  let sent = 0;
  const client = async () => {
    while (sent < TOTAL) {
      sent++;
      const res = await fetch(srv.base + '/rerank', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, passages }),
      });
      const body = (await res.json()) as any;
      counts[res.status] = (counts[res.status] ?? 0) + 1;
      if (res.status === 200) {
        const order = body.results.map((r: { index: number }) => r.index).join(',');
        if (order !== expected.join(',')) problems.push(`wrong order ${order}`);
      } else if (res.status === 429) {
        const ra = res.headers.get('retry-after');
        if (ra === null || !/^\d+$/.test(ra) || Number(ra) < 1)
          problems.push(`429 without a valid Retry-After: ${String(ra)}`);
        if (body?.error?.type !== 'overloaded' || !/MAX_QUEUE_PAIRS=64/.test(body.error.message))
          problems.push(`429 body ${JSON.stringify(body)}`);
      } else problems.push(`status ${res.status}: ${JSON.stringify(body).slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: 12 }, client));
  t.comment(`overload: ${JSON.stringify(counts)}`);
  t.same(problems.slice(0, 5), [], 'no wrong answers, no other statuses');
  t.equal((counts[200] ?? 0) + (counts[429] ?? 0), TOTAL);
  t.ok((counts[429] ?? 0) > 0, 'some requests were refused with 429');
  t.ok((counts[200] ?? 0) > 0, 'some requests were accepted');
  const m = (await srv.get('/metrics')).text;
  t.equal(metricValue(m, 'ko_rerank_rejected_requests_total{reason="overloaded"}'), counts[429], 'rejections counted');
  t.equal(metricValue(m, 'ko_rerank_admitted_pairs'), 0, 'nothing left admitted');
  const after = await srv.post('/rerank', { query, passages });
  t.equal(after.status, 200, 'served normally once the burst is over');
});
