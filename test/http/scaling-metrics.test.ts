// The autoscaling signals (docs/operations.md, "Signals to scale on") through a real server's /metrics with the
// embedded tiny model: each has HELP and TYPE, reads 0 when idle, moves under load and settles back; the refusal
// counter counts every 429 by reason; the padded-token figure of the queue is exact on a known queue.
import t from 'tap';
import { Batcher } from '../../src/core/batcher.ts';
import type { Backend, BackendResult } from '../../src/backend/contract.ts';
import { startServer } from '../helpers/server.ts';
import { metricValue } from '../helpers/scripted-backend.ts';

const SIGNALS = {
  ko_rerank_queue_size: 'gauge',
  ko_rerank_queue_padded_tokens: 'gauge',
  ko_rerank_admitted_pairs: 'gauge',
  ko_rerank_predicted_wait_seconds: 'gauge',
  ko_rerank_inference_busy_seconds_total: 'counter',
  ko_rerank_inference_workers: 'gauge',
  ko_rerank_rejected_requests_total: 'counter',
} as const;

const query = '대한민국의 수도는 어디인가?';
const passages = Array.from({ length: 40 }, (_, i) =>
  i === 3
    ? '서울은 대한민국의 수도이며 가장 큰 도시이다.'
    : `${i}번째 문단: 김치는 배추와 고춧가루로 만드는 한국의 전통 발효 음식이다. 지역마다 맛이 다르고 ${'발효 '.repeat(i % 9)}`,
);

t.test('a queue of known lengths: padded tokens as the batcher would run it', async (t) => {
  // A backend that never answers: the first micro-batch stays in flight, the rest stays queued.
  const stuck: Backend = { slots: 1, run: () => new Promise<BackendResult>(() => {}), close: async () => {} };
  const b = new Batcher(stuck, { maxBatchTokens: 64, maxBatchSize: 3, maxWaitMs: 0, padId: 1 });
  t.equal(b.queuedPaddedTokens(), 0, 'empty queue');
  const seq = (n: number) => Array.from({ length: n }, () => 5);
  void b.submit([seq(4)]).catch(() => {}); // dispatched at once: not queued
  void b.submit([10, 3, 20, 12, 11, 30, 2].map(seq)).catch(() => {});
  t.equal(b.queueSize, 7);
  // sorted 2 3 10 11 12 20 30: [2 3 10] 3 rows x 10 = 30; [11 12 20] would be 60 <= 64 -> 3 x 20 = 60; [30] 30
  t.equal(b.queuedPaddedTokens(), 30 + 60 + 30);
  b.close();
});

const srv = await startServer({ maxQueuePairs: 200, maxBatchSize: 16, workers: 1 });
t.teardown(() => srv.close());

t.test('HELP and TYPE for every signal; idle values', async (t) => {
  const text = (await srv.get('/metrics')).text;
  for (const [name, type] of Object.entries(SIGNALS)) {
    t.match(text, new RegExp(`^# HELP ${name} \\S.{20,}$`, 'm'), `${name} has HELP text`);
    t.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), `${name} is a ${type}`);
  }
  t.equal(metricValue(text, 'ko_rerank_queue_padded_tokens'), 0);
  t.equal(metricValue(text, 'ko_rerank_predicted_wait_seconds'), 0);
  t.equal(metricValue(text, 'ko_rerank_inference_workers'), 1, 'WORKERS=1, up');
  // refusals exist as series before the first one, so rate() has something to work on from the start
  t.equal(metricValue(text, 'ko_rerank_rejected_requests_total{reason="overloaded"}'), 0);
  t.equal(metricValue(text, 'ko_rerank_rejected_requests_total{reason="shutting_down"}'), 0);
});

t.test('under load the queue, wait and busy signals move; idle again afterwards', async (t) => {
  const busy0 = metricValue((await srv.get('/metrics')).text, 'ko_rerank_inference_busy_seconds_total');
  // warm-up: admission measures its throughput from answered requests
  for (let i = 0; i < 3; i++) t.equal((await srv.post('/rerank', { query, passages })).status, 200);

  const max: Record<string, number> = {};
  let running = true;
  const t0 = performance.now();
  const scraper = (async () => {
    while (running) {
      const text = (await srv.get('/metrics')).text;
      for (const name of ['ko_rerank_queue_size', 'ko_rerank_queue_padded_tokens', 'ko_rerank_predicted_wait_seconds'])
        max[name] = Math.max(max[name] ?? 0, metricValue(text, name));
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  // 5 concurrent requests of 40 pairs: 200 pairs, exactly MAX_QUEUE_PAIRS, none refused
  const statuses = await Promise.all(
    Array.from({ length: 5 }, async () => {
      const out: number[] = [];
      for (let i = 0; i < 4; i++) out.push((await srv.post('/rerank', { query, passages })).status);
      return out;
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  running = false;
  await scraper;
  t.same(statuses.flat(), Array(20).fill(200), 'all served');
  t.comment(`max under load: ${JSON.stringify(max)}`);
  t.ok(max.ko_rerank_queue_size! > 0, 'pairs queued');
  t.ok(max.ko_rerank_queue_padded_tokens! >= max.ko_rerank_queue_size!, 'padded tokens >= pairs (>= 1 token a pair)');
  t.ok(max.ko_rerank_predicted_wait_seconds! > 0, 'a wait is predicted while requests are admitted');

  const text = (await srv.get('/metrics')).text;
  const busy = metricValue(text, 'ko_rerank_inference_busy_seconds_total') - busy0;
  const inferenceSum = metricValue(text, 'ko_rerank_inference_duration_ms_sum') / 1000;
  t.ok(busy > 0, `busy ${busy.toFixed(3)} s over ${seconds.toFixed(2)} s`);
  t.ok(busy <= seconds + 1, 'one worker is busy at most all of the time');
  t.ok(busy <= inferenceSum + 1e-6, 'busy time is the runs the batcher saw (no double counting)');
  t.equal(metricValue(text, 'ko_rerank_queue_size'), 0);
  t.equal(metricValue(text, 'ko_rerank_queue_padded_tokens'), 0);
  t.equal(metricValue(text, 'ko_rerank_predicted_wait_seconds'), 0, 'idle: no wait');
});

t.test('every 429 is counted by reason', async (t) => {
  const before = metricValue(
    (await srv.get('/metrics')).text,
    'ko_rerank_rejected_requests_total{reason="overloaded"}',
  );
  // 12 clients x 40 pairs against MAX_QUEUE_PAIRS=200: some must be refused
  const statuses = (
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        const out: number[] = [];
        for (let i = 0; i < 3; i++) out.push((await srv.post('/rerank', { query, passages })).status);
        return out;
      }),
    )
  ).flat();
  const refused = statuses.filter((s) => s === 429).length;
  t.ok(refused > 0, `${refused} of ${statuses.length} refused`);
  t.same(
    statuses.filter((s) => s !== 200 && s !== 429),
    [],
  );
  const text = (await srv.get('/metrics')).text;
  t.equal(metricValue(text, 'ko_rerank_rejected_requests_total{reason="overloaded"}') - before, refused);
  t.equal(
    metricValue(text, 'ko_rerank_requests_total{route="/rerank",method="POST",status="429"}'),
    refused,
    'the same count as the HTTP status counter',
  );
});
