// Admission control in isolation: the queue bound, Retry-After from the recent throughput, deadlines, the drain.
import t from 'tap';
import { Registry } from 'prom-client';
import { Admission, ReliabilityMetrics } from '../../src/core/admission.ts';
import { ServiceError } from '../../src/core/errors.ts';

const make = (maxQueuePairs = 100, requestTimeoutMs = 10_000) => {
  const registry = new Registry();
  const metrics = new ReliabilityMetrics(registry);
  return { a: new Admission({ maxQueuePairs, requestTimeoutMs }, metrics), registry };
};

const refusal = (fn: () => void): ServiceError | undefined => {
  try {
    fn();
  } catch (err) {
    return err as ServiceError;
  }
  return undefined;
};

t.test('MAX_QUEUE_PAIRS: accepted up to the bound, overloaded past it, one request alone always', async (t) => {
  const { a, registry } = make(100);
  t.equal(
    refusal(() => a.acquire(500)),
    undefined,
    'a request larger than the bound is accepted when nothing is queued',
  );
  a.release(500, 500);
  a.acquire(60);
  a.acquire(40);
  t.equal(a.admitted, 100);
  const err = refusal(() => a.acquire(1));
  t.equal(err?.type, 'overloaded');
  t.match(err?.message, /100 pairs queued, 1 more would pass MAX_QUEUE_PAIRS=100/);
  t.ok(err!.retryAfterS! >= 1 && err!.retryAfterS! <= 60);
  a.release(40, 0);
  t.equal(
    refusal(() => a.acquire(40)),
    undefined,
    'room again once pairs are released',
  );
  t.match(await registry.getSingleMetricAsString('ko_rerank_rejected_requests_total'), /reason="overloaded"} 1/);
});

t.test('Retry-After follows the throughput of the last seconds, between 1 and 60', async (t) => {
  const { a } = make(1000);
  t.equal(a.retryAfterS(), 1, 'no history: 1 s');
  // 2 completions of 10 pairs within a second: about 20 pairs/s over the 1 s floor of the window
  a.acquire(10);
  a.release(10, 10);
  a.acquire(10);
  a.release(10, 10);
  a.acquire(1000);
  t.equal(a.retryAfterS(), 25, '(1000 - 500) pairs at 20 pairs/s');
  const err = refusal(() => a.acquire(1));
  t.equal(err?.retryAfterS, 25, 'the 429 carries it');
  const { a: big } = make(1_000_000);
  big.acquire(10);
  big.release(10, 10);
  big.acquire(10);
  big.release(10, 10);
  big.acquire(1_000_000);
  t.equal(big.retryAfterS(), 60, 'capped at 60 s');
});

t.test('the throughput behind the wait prediction counts busy time only, not idle gaps between requests', async (t) => {
  const { a } = make(100_000);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // Two busy periods of about 1.2 s scoring 100 pairs each, 2 s of nothing between them. The estimate sums the pairs
  // of the completions in the window over the time since the first one: 200 / 1.2 s busy = 167 pairs/s; over wall
  // time (3.2 s) it would be 62.
  for (let round = 0; round < 2; round++) {
    if (round > 0) await sleep(2000);
    a.acquire(100);
    await sleep(1200);
    a.release(100, 100);
  }
  a.acquire(1);
  const perS = (200 * 1000) / a.predictedMs(200)!;
  a.release(1, 0);
  // predictedMs(200) = (200 + min(1, 200)) pairs at the estimate.
  const estimate = (perS * 201) / 200;
  t.ok(
    estimate > 140 && estimate < 200,
    `about 167 pairs/s (both completions over 1.2 s of busy time), got ${estimate.toFixed(0)}`,
  );
});

t.test(
  'deadline: the shorter of REQUEST_TIMEOUT_MS and timeout_ms; client aborts pass through; dispose clears it',
  async (t) => {
    const { a } = make(100, 80);
    const d1 = a.deadline(undefined, 10_000);
    t.equal(d1.ms, 80, 'capped by REQUEST_TIMEOUT_MS');
    const d2 = a.deadline(undefined, 20);
    t.equal(d2.ms, 20);
    await new Promise((r) => setTimeout(r, 150));
    t.ok(d1.signal.aborted && d1.timedOut());
    t.equal((d1.signal.reason as Error).name, 'TimeoutError');
    t.ok(d2.timedOut());
    const client = new AbortController();
    const d3 = a.deadline(client.signal);
    client.abort();
    t.ok(d3.signal.aborted);
    t.notOk(d3.timedOut(), 'a disconnect is not a timeout');
    const d4 = a.deadline(undefined, 30);
    d4.dispose();
    await new Promise((r) => setTimeout(r, 80));
    t.notOk(d4.signal.aborted, 'disposed: the timer never fires');
    for (const d of [d1, d2, d3]) d.dispose();
  },
);

t.test('drain: refuses new requests, resolves true once idle, false when the grace runs out', async (t) => {
  const { a } = make();
  a.enter();
  a.enter();
  const drained = a.drain(5_000);
  t.ok(a.shuttingDown);
  t.equal(refusal(() => a.enter())?.type, 'shutting_down');
  a.leave();
  let done = false;
  void drained.then(() => (done = true));
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(done, 'still one request inside');
  a.leave();
  t.equal(await drained, true);
  const b = make().a;
  b.enter();
  t.equal(await b.drain(30), false, 'grace ran out');
});
