// Admission control in isolation: the queue bound, Retry-After and the predicted wait from the measured scoring rate,
// deadlines, the drain.
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

t.test('Retry-After follows the measured scoring rate, between 1 and 60', async (t) => {
  const { a } = make(1000);
  t.equal(a.retryAfterS(), 1, 'nothing measured: 1 s');
  // Micro-batches of 10 pairs x 100 padded tokens in 500 ms: 0.5 ms per padded token, 50 ms per pair, 20 pairs/s.
  a.observeRun({ rows: 10, paddedTokens: 1000, inferenceMs: 500 });
  a.observeRun({ rows: 10, paddedTokens: 1000, inferenceMs: 500 });
  a.acquire(1000);
  t.equal(a.retryAfterS(), 25, '(1000 - 500) pairs at 20 pairs/s');
  const err = refusal(() => a.acquire(1));
  t.equal(err?.retryAfterS, 25, 'the 429 carries it');
  const { a: big } = make(1_000_000);
  big.observeRun({ rows: 10, paddedTokens: 1000, inferenceMs: 500 });
  big.acquire(1_000_000);
  t.equal(big.retryAfterS(), 60, 'capped at 60 s');
});

t.test(
  'the predicted wait: fair shares of the admitted work at the measured ms per pair, times parallel runs',
  async (t) => {
    const registry = new Registry();
    const two = new Admission(
      { maxQueuePairs: 10_000, requestTimeoutMs: 10_000, parallelRuns: 2 },
      new ReliabilityMetrics(registry),
    );
    t.equal(two.predictedMs(20), undefined, 'nothing measured: no prediction (admitted)');
    two.observeRun({ rows: 64, paddedTokens: 6400, inferenceMs: 640 }); // 10 ms per pair, 2 runs at once: 200 pairs/s
    for (let i = 0; i < 10; i++) two.acquire(20);
    two.acquire(5);
    // 20 of its own + 10 x min(20, 20) + min(5, 20) = 225 pairs at 200 pairs/s.
    t.equal(two.predictedMs(20), 1125);
    t.equal(refusal(() => two.acquire(20, 1000))?.type, 'overloaded', 'more than its 1000 ms deadline: 429 at once');
    t.match(
      refusal(() => two.acquire(20, 1000))?.message,
      /predicted to take 1125 ms at the measured throughput, more than the request's 1000 ms deadline/,
    );
    t.equal(
      refusal(() => two.acquire(20, 1200)),
      undefined,
      'within its deadline: admitted',
    );
  },
);

t.test('the measured rate survives idle time, and a trickle of small micro-batches barely moves it', async (t) => {
  const { a } = make(100_000);
  for (let i = 0; i < 5; i++) a.observeRun({ rows: 64, paddedTokens: 6400, inferenceMs: 320 }); // 5 ms per pair
  a.acquire(1);
  const before = a.predictedMs(100)!;
  t.equal(Math.round(before), 505, '(100 + 1) pairs at 5 ms');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(a.predictedMs(100), before, 'idle time alone changes nothing (no window of recent completions to empty)');
  // Ten single-pair runs at 20 ms each (a trickle: the overhead of a run dominates) weigh 10 x 60 tokens.
  for (let i = 0; i < 10; i++) a.observeRun({ rows: 1, paddedTokens: 60, inferenceMs: 20 });
  const after = a.predictedMs(100)!;
  t.ok(after / before < 1.6, `a trickle moves the estimate little (${Math.round(before)} -> ${Math.round(after)} ms)`);
  // Full micro-batches move it: the server got slower (10 ms per pair).
  for (let i = 0; i < 20; i++) a.observeRun({ rows: 64, paddedTokens: 6400, inferenceMs: 640 });
  t.ok(Math.abs(a.predictedMs(100)! - 1010) < 60, `full micro-batches move it (${Math.round(a.predictedMs(100)!)} ms)`);
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
