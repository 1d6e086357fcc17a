import t from 'tap';
import { Batcher, type BatchStats } from '../../src/core/batcher.ts';
import { RunWithdrawnError, type Backend, type BackendResult, type TensorBatch } from '../../src/backend/contract.ts';

/** A backend whose "logit" of a row is a pure function of its unpadded ids, so results are checkable. */
class FakeBackend implements Backend {
  readonly batches: { rows: number; seqLen: number; lengths: number[]; firstIds: number[] }[] = [];
  running = 0;
  maxRunning = 0;
  constructor(
    readonly slots = 1,
    private readonly delayMs = 5,
    private readonly failWhen?: (b: TensorBatch) => boolean,
  ) {}
  async run(b: TensorBatch): Promise<BackendResult> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const lengths: number[] = [];
    const firstIds: number[] = [];
    const logits = new Float32Array(b.rows);
    for (let r = 0; r < b.rows; r++) {
      let len = 0;
      let sum = 0;
      for (let i = 0; i < b.seqLen; i++) {
        if (b.mask[r * b.seqLen + i] === 1n) {
          len++;
          sum += Number(b.ids[r * b.seqLen + i]!);
        } else t.equal(b.ids[r * b.seqLen + i], 1n, 'padding uses the pad id');
      }
      lengths.push(len);
      firstIds.push(Number(b.ids[r * b.seqLen + 1]));
      logits[r] = sum;
    }
    this.batches.push({ rows: b.rows, seqLen: b.seqLen, lengths, firstIds });
    await new Promise((r) => setTimeout(r, this.delayMs));
    this.running--;
    if (this.failWhen?.(b)) throw new Error('boom');
    return { logits, inferenceMs: this.delayMs };
  }
  async close() {}
}

const seq = (len: number, tag: number): number[] =>
  [0, tag, ...Array.from({ length: Math.max(0, len - 3) }, () => 7), 2].slice(0, len);
const expected = (s: number[]) => s.reduce((a, b) => a + b, 0);
const opts = { maxBatchTokens: 64, maxBatchSize: 8, maxWaitMs: 5, padId: 1 };

t.test('results come back in input order', async (t) => {
  const backend = new FakeBackend();
  const b = new Batcher(backend, opts);
  const seqs = [10, 3, 7, 16, 4, 12, 5].map((n, i) => seq(n, 100 + i));
  const out = await b.submit(seqs);
  t.same(Array.from(out.logits), seqs.map(expected));
});

t.test('every micro-batch respects the token budget and the row cap', async (t) => {
  const stats: BatchStats[] = [];
  const backend = new FakeBackend();
  const b = new Batcher(backend, { ...opts, maxBatchTokens: 40, maxBatchSize: 3 }, { onBatch: (s) => stats.push(s) });
  const seqs = Array.from({ length: 30 }, (_, i) => seq(3 + ((i * 7) % 17), i + 10));
  const out = await b.submit(seqs);
  t.same(Array.from(out.logits), seqs.map(expected));
  t.ok(backend.batches.length >= 10, 'several micro-batches');
  for (const batch of backend.batches) {
    t.ok(batch.rows * batch.seqLen <= 40, `rows ${batch.rows} x len ${batch.seqLen} within budget`);
    t.ok(batch.rows <= 3, 'row cap');
    t.equal(batch.seqLen, Math.max(...batch.lengths), 'padded to its own longest pair');
  }
  t.equal(stats.length, backend.batches.length);
  t.equal(
    stats.reduce((n, s) => n + s.rows, 0),
    30,
  );
});

t.test('a pair longer than the budget still runs, alone', async (t) => {
  const backend = new FakeBackend();
  const b = new Batcher(backend, { ...opts, maxBatchTokens: 16 });
  const s = seq(20, 42);
  const out = await b.submit([s, seq(4, 43)]);
  t.equal(out.logits[0], expected(s));
  t.ok(backend.batches.some((x) => x.rows === 1 && x.seqLen === 20));
});

t.test('pairs are grouped by length', async (t) => {
  const backend = new FakeBackend();
  const b = new Batcher(backend, { maxBatchTokens: 4 * 32, maxBatchSize: 4, maxWaitMs: 5, padId: 1 });
  // Alternating short and long pairs: FIFO batching would pad every short pair to 32.
  const seqs = Array.from({ length: 16 }, (_, i) => seq(i % 2 === 0 ? 4 : 32, i + 10));
  await b.submit(seqs);
  for (const batch of backend.batches) {
    t.equal(Math.min(...batch.lengths), Math.max(...batch.lengths), `batch of lengths ${batch.lengths} is uniform`);
  }
});

t.test('several requests share a micro-batch and each gets its own results', async (t) => {
  const backend = new FakeBackend(1, 20);
  const b = new Batcher(backend, { maxBatchTokens: 1024, maxBatchSize: 64, maxWaitMs: 10, padId: 1 });
  const reqs = Array.from({ length: 6 }, (_, r) =>
    Array.from({ length: 3 + r }, (_, i) => seq(5 + ((i * 3 + r) % 9), r * 10 + i + 10)),
  );
  const outs = await Promise.all(reqs.map((s) => b.submit(s)));
  outs.forEach((o, r) => t.same(Array.from(o.logits), reqs[r]!.map(expected), `request ${r}`));
  // The idle backend takes request 0 at once; the five that queued behind it share the next micro-batch.
  const second = backend.batches[1]!;
  const tags = new Set(second.firstIds.map((id) => Math.floor((id - 10) / 10)));
  t.ok(tags.size > 1, `second micro-batch holds pairs of ${tags.size} requests`);
  t.ok(backend.batches.length < reqs.length, 'fewer micro-batches than requests');
});

t.test(
  'an idle backend gets a short queue at once; while one runs, a short queue waits at most maxWaitMs',
  async (t) => {
    const backend = new FakeBackend(2, 150);
    const b = new Batcher(backend, { maxBatchTokens: 1024, maxBatchSize: 64, maxWaitMs: 30, padId: 1 });
    const first = b.submit([seq(5, 10)]);
    const second = b.submit([seq(5, 11)]);
    const [a, c] = await Promise.all([first, second]);
    t.ok(a.queueMs < 15, `idle backend: dispatched after ${a.queueMs.toFixed(1)} ms`);
    t.ok(
      c.queueMs >= 25 && c.queueMs < 140,
      `busy backend: the short queue waited ${c.queueMs.toFixed(1)} ms (MAX_WAIT_MS 30)`,
    );
    t.equal(backend.batches.length, 2);
    const full = new Batcher(new FakeBackend(2, 150), {
      maxBatchTokens: 10,
      maxBatchSize: 64,
      maxWaitMs: 10_000,
      padId: 1,
    });
    const t1 = performance.now();
    await Promise.all([full.submit([seq(5, 10)]), full.submit([seq(5, 10), seq(5, 11)])]);
    t.ok(performance.now() - t1 < 1000, 'a full queue does not wait');
  },
);

t.test('in-flight micro-batches never exceed the backend slots', async (t) => {
  const backend = new FakeBackend(2, 10);
  const b = new Batcher(backend, { maxBatchTokens: 16, maxBatchSize: 64, maxWaitMs: 0, padId: 1 });
  await b.submit(Array.from({ length: 20 }, (_, i) => seq(8, i + 10)));
  t.equal(backend.maxRunning, 2, 'pipelined up to the slot count');
});

t.test('a backend failure rejects the requests of that batch and the batcher keeps serving', async (t) => {
  const backend = new FakeBackend(1, 1, (b) => b.ids[1] === 666n);
  const b = new Batcher(backend, { maxBatchTokens: 16, maxBatchSize: 1, maxWaitMs: 0, padId: 1 });
  await t.rejects(b.submit([seq(5, 666), seq(5, 11)]), /boom/);
  const ok = await b.submit([seq(5, 12)]);
  t.equal(ok.logits[0], expected(seq(5, 12)));
  t.equal(b.queueSize, 0, 'the failed request left nothing queued');
});

t.test('an aborted request is dropped from the queue', async (t) => {
  const backend = new FakeBackend(1, 30);
  const b = new Batcher(backend, { maxBatchTokens: 16, maxBatchSize: 1, maxWaitMs: 0, padId: 1 });
  const ac = new AbortController();
  const busy = b.submit([seq(5, 10)]);
  const dropped = b.submit(
    Array.from({ length: 10 }, (_, i) => seq(5, 20 + i)),
    ac.signal,
  );
  ac.abort();
  await t.rejects(dropped, /cancelled/);
  await busy;
  t.equal(b.queueSize, 0);
  t.ok(backend.batches.length <= 2, `only ${backend.batches.length} batches ran`);
});

t.test('buildTensors pads with the pad id and masks padding', async (t) => {
  const tb = Batcher.buildTensors(
    [
      [0, 5, 2],
      [0, 2],
    ],
    1,
  );
  t.equal(tb.rows, 2);
  t.equal(tb.seqLen, 3);
  t.same(Array.from(tb.ids), [0n, 5n, 2n, 0n, 2n, 1n]);
  t.same(Array.from(tb.mask), [1n, 1n, 1n, 1n, 1n, 0n]);
});

t.test('bestWindow: the window with the least padded + overhead tokens per real token', async (t) => {
  const budget = { maxBatchTokens: 64, maxBatchSize: 4 };
  // Overhead = 64 / 16 = 4 tokens. Lengths sorted ascending.
  const lengths = [2, 8, 8, 8, 8, 15, 16];
  // Windows of 4 (row cap): [2,8,8,8] cost (32+4)/26, [8,8,8,8] (32+4)/32, [8,8,8,15] (60+4)/39, [8,8,15,16] (64+4)/47.
  t.same(Batcher.bestWindow(lengths, undefined, budget), [1, 5], 'the uniform window');
  // With the 2 as anchor only windows holding index 0 count.
  t.same(Batcher.bestWindow(lengths, 0, budget), [0, 4], 'the anchor is kept');
  // The 16 as anchor: [8,8,15,16] costs (64+4)/47, [15,16] (32+4)/31: the two long pairs go together.
  t.same(Batcher.bestWindow(lengths, 6, budget), [5, 7]);
  // Budget-limited: rows x longest <= 64 with lengths 30 and 40 gives one row for the 40.
  t.same(Batcher.bestWindow([30, 30, 40], undefined, budget), [0, 2]);
  t.same(Batcher.bestWindow([30, 30, 40], 2, budget), [2, 3], 'an anchor that only fits alone goes alone');
  t.same(Batcher.bestWindow([100], undefined, budget), [0, 1], 'a pair over the budget goes alone');
  // A single pair with no padding is not preferred over a full batch with a little padding: the overhead counts.
  t.same(Batcher.bestWindow([10, 10, 10, 11], undefined, budget), [0, 4]);
});

t.test('a deep queue is cut into uniform micro-batches, not anchored on the oldest pair', async (t) => {
  const backend = new FakeBackend(1, 20);
  const b = new Batcher(backend, { maxBatchTokens: 4 * 32, maxBatchSize: 4, maxWaitMs: 0, padId: 1, starveMs: 10_000 });
  // The oldest pair is a lone long one among short ones; anchoring on it would pad three short pairs to 32.
  const seqs = [seq(32, 10), ...Array.from({ length: 8 }, (_, i) => seq(4, i + 11))];
  const out = await b.submit(seqs);
  t.same(Array.from(out.logits), seqs.map(expected));
  for (const batch of backend.batches)
    t.equal(Math.min(...batch.lengths), Math.max(...batch.lengths), `batch of lengths ${batch.lengths} is uniform`);
});

t.test('a pair that waited past the starvation bound is in the next micro-batch', async (t) => {
  const backend = new FakeBackend(1, 15);
  const b = new Batcher(backend, { maxBatchTokens: 4 * 32, maxBatchSize: 4, maxWaitMs: 0, padId: 1, starveMs: 0 });
  // starveMs 0: every batch is anchored on the oldest pair, so the lone long pair goes in the first batch.
  const seqs = [seq(32, 10), ...Array.from({ length: 8 }, (_, i) => seq(4, i + 11))];
  await b.submit(seqs);
  t.ok(backend.batches[0]!.lengths.includes(32), `first batch ${backend.batches[0]!.lengths}`);
});

t.test('buildTensors writes ids of a large vocabulary (XLM-R: 250,002) exactly', async (t) => {
  const tb = Batcher.buildTensors(
    [
      [0, 250001, 131072, 2],
      [0, 65536, 2],
    ],
    1,
  );
  t.same(Array.from(tb.ids), [0n, 250001n, 131072n, 2n, 0n, 65536n, 2n, 1n]);
  t.same(Array.from(tb.mask), [1n, 1n, 1n, 1n, 1n, 1n, 1n, 0n]);
});

t.test(
  'fair: a light request beside a heavy one is served within two micro-batches; length-only makes it wait',
  async (t) => {
    for (const fair of [true, false]) {
      const backend = new FakeBackend(1, 5);
      const b = new Batcher(backend, {
        maxBatchTokens: 8 * 32,
        maxBatchSize: 8,
        maxWaitMs: 0,
        padId: 1,
        starveMs: 10,
        fair,
      });
      const heavy = b.submit(Array.from({ length: 160 }, (_, i) => seq(32, 100 + (i % 50))));
      await new Promise((r) => setTimeout(r, 12));
      const before = backend.batches.length;
      const light = await b.submit([seq(6, 11), seq(20, 12), seq(9, 13)]);
      const waited = backend.batches.length - before;
      t.same(Array.from(light.logits), [seq(6, 11), seq(20, 12), seq(9, 13)].map(expected));
      await heavy;
      if (fair)
        t.ok(
          waited <= 3,
          `fair: the light request was done after ${waited} micro-batches (of ${backend.batches.length})`,
        );
      else t.ok(waited > 10, `length-only: the light request waited ${waited} micro-batches`);
    }
  },
);

/**
 * A backend that behaves like one inference worker: runs one micro-batch at a time, keeps the others queued, and gives
 * a queued one back (RunWithdrawnError) when its signal was aborted before its turn. Logits as FakeBackend's.
 */
class WorkerLikeBackend implements Backend {
  readonly slots = 2;
  /** Rows of each micro-batch that ran, by their first id, in the order they started. */
  readonly started: number[][] = [];
  withdrawn = 0;
  private chain: Promise<void> = Promise.resolve();
  constructor(private readonly delayMs = 4) {}
  run(b: TensorBatch, signal?: AbortSignal): Promise<BackendResult> {
    const turn = this.chain.then(async () => {
      if (signal?.aborted) {
        this.withdrawn++;
        throw new RunWithdrawnError();
      }
      const logits = new Float32Array(b.rows);
      const firsts: number[] = [];
      for (let r = 0; r < b.rows; r++) {
        let sum = 0;
        for (let i = 0; i < b.seqLen; i++) if (b.mask[r * b.seqLen + i] === 1n) sum += Number(b.ids[r * b.seqLen + i]!);
        logits[r] = sum;
        firsts.push(Number(b.ids[r * b.seqLen + 1]));
      }
      this.started.push(firsts);
      await new Promise((r) => setTimeout(r, this.delayMs));
      return { logits, inferenceMs: this.delayMs };
    });
    this.chain = turn.then(
      () => {},
      () => {},
    );
    return turn;
  }
  async close() {}
}

t.test(
  'fair: a micro-batch queued behind the running one is withdrawn for a light request, and its rows run once later',
  async (t) => {
    const backend = new WorkerLikeBackend(4);
    let withdrawnHook = 0;
    const b = new Batcher(
      backend,
      { maxBatchTokens: 8 * 32, maxBatchSize: 8, maxWaitMs: 0, padId: 1, starveMs: 1000 },
      { onWithdrawn: () => withdrawnHook++ },
    );
    const heavySeqs = Array.from({ length: 160 }, (_, i) => seq(32, 100 + (i % 50)));
    const heavy = b.submit(heavySeqs);
    while (backend.started.length < 3) await new Promise((r) => setTimeout(r, 1));
    const startedBefore = backend.started.length;
    const lightSeqs = [seq(6, 11), seq(20, 12), seq(9, 13)];
    const light = await b.submit(lightSeqs);
    t.same(Array.from(light.logits), lightSeqs.map(expected));
    const lightAt = backend.started.findIndex((firsts) => firsts.includes(11));
    t.ok(lightAt >= 0, 'the light request ran');
    // Only the batch already running when the light request came runs before it: the queued one was withdrawn.
    t.equal(lightAt - startedBefore, 0, 'no heavy micro-batch started between the light request and its own');
    t.ok(backend.withdrawn >= 1, `withdrawn: ${backend.withdrawn}`);
    t.equal(withdrawnHook, backend.withdrawn, 'onWithdrawn reports each withdrawal');
    const heavyOut = await heavy;
    t.same(Array.from(heavyOut.logits), heavySeqs.map(expected), 'the heavy request gets every logit');
    const rowsRun = backend.started.reduce((n, firsts) => n + firsts.length, 0);
    t.equal(rowsRun, 160 + 3, 'each row ran exactly once');
  },
);

t.test(
  'fair: a stream of light requests does not starve a heavy one (starved batches are never withdrawn)',
  async (t) => {
    const backend = new WorkerLikeBackend(2);
    const b = new Batcher(backend, { maxBatchTokens: 8 * 32, maxBatchSize: 8, maxWaitMs: 0, padId: 1, starveMs: 1000 });
    let heavyDone = false;
    const heavySeqs = Array.from({ length: 48 }, (_, i) => seq(32, 100 + i));
    const heavy = b.submit(heavySeqs).then((r) => {
      heavyDone = true;
      return r;
    });
    let lights = 0;
    const stream = async () => {
      while (!heavyDone && lights < 400) {
        lights++;
        await b.submit([seq(6, 11), seq(7, 12)]);
      }
    };
    await Promise.all([stream(), stream(), stream()]);
    t.ok(heavyDone, `the heavy request finished while ${lights} light requests streamed`);
    t.ok(lights < 400, 'before the stream ran out');
    t.same(Array.from((await heavy).logits), heavySeqs.map(expected));
  },
);

t.test('length-only mode never withdraws a micro-batch', async (t) => {
  const backend = new WorkerLikeBackend(4);
  const b = new Batcher(backend, { maxBatchTokens: 8 * 32, maxBatchSize: 8, maxWaitMs: 0, padId: 1, fair: false });
  const heavy = b.submit(Array.from({ length: 64 }, (_, i) => seq(32, 100 + (i % 50))));
  while (backend.started.length < 2) await new Promise((r) => setTimeout(r, 1));
  await b.submit([seq(6, 11)]);
  await heavy;
  t.equal(backend.withdrawn, 0);
});

/** Reports an inference time proportional to the padded tokens (msPerToken each), without waiting that long. */
class CostBackend implements Backend {
  readonly slots = 1;
  readonly padded: number[] = [];
  constructor(private readonly msPerToken: number) {}
  async run(b: TensorBatch): Promise<BackendResult> {
    this.padded.push(b.rows * b.seqLen);
    await new Promise((r) => setImmediate(r));
    return { logits: new Float32Array(b.rows), inferenceMs: b.rows * b.seqLen * this.msPerToken };
  }
  async close() {}
}

t.test(
  'MAX_BATCH_MS: once a micro-batch was measured, the budget is the tokens that run in that time, floored at minBatchTokens',
  async (t) => {
    const backend = new CostBackend(0.1);
    const b = new Batcher(backend, {
      maxBatchTokens: 2048,
      maxBatchMs: 20,
      minBatchTokens: 64,
      maxBatchSize: 1024,
      maxWaitMs: 0,
      padId: 1,
    });
    t.equal(b.budget(), 2048, 'nothing measured yet: MAX_BATCH_TOKENS');
    await b.submit(Array.from({ length: 64 }, (_, i) => seq(32, 100 + i)));
    t.equal(backend.padded[0], 2048, 'the first micro-batch fills MAX_BATCH_TOKENS');
    t.equal(b.budget(), 200, '20 ms at 0.1 ms per padded token');
    backend.padded.length = 0;
    await b.submit(Array.from({ length: 64 }, (_, i) => seq(32, 100 + i)));
    t.ok(
      backend.padded.every((n) => n <= 200),
      `every later micro-batch within 200 tokens: ${backend.padded.join(', ')}`,
    );

    const slow = new Batcher(new CostBackend(10), {
      maxBatchTokens: 2048,
      maxBatchMs: 20,
      minBatchTokens: 64,
      maxBatchSize: 1024,
      maxWaitMs: 0,
      padId: 1,
    });
    await slow.submit(Array.from({ length: 64 }, (_, i) => seq(32, 100 + i)));
    t.equal(slow.budget(), 64, 'never below minBatchTokens');

    const off = new Batcher(new CostBackend(0.1), {
      maxBatchTokens: 2048,
      maxBatchMs: 0,
      maxBatchSize: 1024,
      maxWaitMs: 0,
      padId: 1,
    });
    await off.submit(Array.from({ length: 64 }, (_, i) => seq(32, 100 + i)));
    t.equal(off.budget(), 2048, 'MAX_BATCH_MS=0: MAX_BATCH_TOKENS alone');
  },
);
