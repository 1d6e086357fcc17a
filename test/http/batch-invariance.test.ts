// 50 concurrent /rerank requests of mixed sizes give the same logits (within 1e-4) as each request sent alone.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { startServer } from '../helpers/server.ts';

const srv = await startServer({ maxBatchTokens: 4096, maxBatchSize: 32, maxWaitMs: 5 });
t.teardown(() => srv.close());

// Korean queries and passages from the shared MS MARCO-ko sample when present, else a built-in set.
function corpus(): { query: string; pos: string[] }[] {
  try {
    const lines = readFileSync('data/msmarco-ko/msmarco-ko.jsonl', 'utf8').split('\n').filter(Boolean).slice(0, 200);
    return lines.map((l) => JSON.parse(l) as { query: string; pos: string[] });
  } catch {
    return Array.from({ length: 60 }, (_, i) => ({
      query: `질문 ${i}: 서울의 인구는 얼마인가요?`,
      pos: [`서울의 인구는 약 ${900 + i}만 명이다. `.repeat(1 + (i % 7))],
    }));
  }
}

const rows = corpus();
const allPassages = rows.flatMap((r) => r.pos);
let seed = 7;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const requests = Array.from({ length: 50 }, (_, i) => {
  const size = 1 + Math.floor(rand() * (i % 5 === 0 ? 24 : 6));
  const passages = Array.from({ length: size }, () => {
    const p = allPassages[Math.floor(rand() * allPassages.length)]!;
    return rand() < 0.2 ? p.repeat(3) : p.slice(0, 20 + Math.floor(rand() * p.length));
  });
  return { query: rows[i % rows.length]!.query, passages };
});

const logitsByIndex = (body: any): number[] => {
  const out: number[] = [];
  for (const r of body.results) out[r.index] = r.logit;
  return out;
};

t.test('concurrent requests equal sequential ones', async (t) => {
  const alone: number[][] = [];
  for (const r of requests) {
    const res = await srv.post('/rerank', r);
    t.equal(res.status, 200);
    alone.push(logitsByIndex(res.body));
  }
  const concurrent = await Promise.all(requests.map((r) => srv.post('/rerank', r)));
  let maxDiff = 0;
  concurrent.forEach((res, i) => {
    t.equal(res.status, 200);
    const got = logitsByIndex(res.body);
    t.equal(got.length, requests[i]!.passages.length);
    got.forEach((g, j) => (maxDiff = Math.max(maxDiff, Math.abs(g - alone[i]![j]!))));
  });
  t.ok(maxDiff <= 1e-4, `max |concurrent - alone| = ${maxDiff}`);
  const metrics = (await srv.get('/metrics')).text;
  const count = Number(/ko_rerank_batch_size_count (\d+)/.exec(metrics)?.[1]);
  const sum = Number(/ko_rerank_batch_size_sum (\d+)/.exec(metrics)?.[1]);
  t.ok(sum / count > 1, `micro-batches were shared (mean size ${(sum / count).toFixed(1)})`);
});
