// The batcher: encoded pairs of all in-flight requests share one queue. Micro-batches are formed under a
// token budget (rows x padded length) and a row cap, grouped by length, padded to their own longest pair.
// Results go back to each request in input order. Header comment of takeBatch() says how a micro-batch is chosen.
import { RunWithdrawnError, type Backend, type TensorBatch } from '../backend/contract.ts';

export interface BatcherOptions {
  maxBatchTokens: number;
  /**
   * Time bound of one micro-batch (MAX_BATCH_MS, 0/absent = none): the token budget is at most maxBatchMs / (ms per
   * padded token), that cost measured as a moving average over the micro-batches that filled at least half of the
   * budget. A request arriving while one runs then waits for about this long at most (CPU: run time grows with tokens).
   * Never below minBatchTokens.
   */
  maxBatchMs?: number;
  /** Floor of the time-bound budget (the model's max_len: one full pair), so the per-run overhead stays small. */
  minBatchTokens?: number;
  maxBatchSize: number;
  maxWaitMs: number;
  padId: number;
  /**
   * Once the oldest queued pair has waited this long, the next micro-batch must hold it (default: 50 ms or
   * 10 x maxWaitMs, whichever is more). Below it, the batcher picks the least-padded batch anywhere in the queue.
   */
  starveMs?: number;
  /**
   * Fair between requests (default true): while pairs of more than one request are queued, each micro-batch is built
   * around the request with the fewest queued pairs (shortest remaining work), filled with its neighbours in length
   * order; a request no micro-batch has served for starveMs is served next. A micro-batch sent to a busy worker and
   * not started yet is withdrawn when a request with less remaining work than all of its own arrives, so the light
   * request waits for at most the run in progress. false: length order only, across requests, nothing withdrawn.
   */
  fair?: boolean;
}

export interface BatchStats {
  rows: number;
  seqLen: number;
  /** rows x seqLen */
  paddedTokens: number;
  /** Sum of the real lengths. */
  realTokens: number;
  /** Time the oldest pair of the batch waited in the queue. */
  queueMs: number;
  inferenceMs: number;
}

export interface BatcherHooks {
  onBatch?(stats: BatchStats): void;
  onQueueSize?(pairs: number): void;
  /** Queued pairs of an aborted request were removed before reaching the backend; `reason` is the signal's. */
  onDropped?(pairs: number, reason: unknown): void;
  /** A micro-batch of `rows` was withdrawn before it ran; its rows are queued again. */
  onWithdrawn?(rows: number): void;
}

export interface SubmitResult {
  /** One logit per submitted sequence, in input order. */
  logits: Float32Array;
  /** Longest time one of the request's pairs waited in the queue. */
  queueMs: number;
  /** Summed inference time of the micro-batches the request took part in. */
  inferenceMs: number;
}

/** A micro-batch is charged MAX_BATCH_TOKENS / this in fixed per-run cost when the batcher compares candidates. */
const BATCH_OVERHEAD_SHARE = 16;
/**
 * Rows longer than this many tokens count for more than their tokens against the budget: attention's work per token
 * grows with the row length, so a row of L > 512 tokens counts L x L / 512 (8,192 tokens count 16 times their number:
 * measured 2.0 against 0.6 ms per token at 512, bench/results/2026-12-04-long-inputs.json). At 512 and below, tokens.
 */
export const ATTENTION_KNEE_TOKENS = 512;

/** What a micro-batch of `rows` rows padded to `seqLen` counts against the token budget. */
export function batchCost(rows: number, seqLen: number): number {
  return rows * seqLen * Math.max(1, seqLen / ATTENTION_KNEE_TOKENS);
}

/** Weight of the newest micro-batch in the ms-per-token moving average (MAX_BATCH_MS). */
const COST_EWMA_WEIGHT = 0.25;

/** Fair mode: a request skipped by this many micro-batches in a row is in the next one. */
const STARVE_BATCHES = 2;

export class CancelledError extends Error {
  constructor() {
    super('request cancelled');
    this.name = 'CancelledError';
  }
}

interface Job {
  logits: Float32Array;
  remaining: number;
  /** Pairs of this job still in the queue. */
  queued: number;
  /** Micro-batches formed since one took a pair of this job (while it had pairs queued). */
  skipped: number;
  done: boolean;
  queueMs: number;
  inferenceMs: number;
  resolve: (r: SubmitResult) => void;
  reject: (e: Error) => void;
}

/** A micro-batch handed to the backend and not answered yet. */
interface Dispatched {
  jobs: Set<Job>;
  withdraw: AbortController;
  /** Asked back (withdraw aborted); it may still run if it had started. */
  askedBack: boolean;
  /** Formed around a starved request or pair: never asked back, so starvation stays bounded. */
  pinned: boolean;
}

interface Entry {
  seq: readonly number[];
  /** First position of token type 1 (BERT-family pairs); absent: all type 0. */
  typeStart?: number;
  job: Job;
  index: number;
  enqueuedAt: number;
  /** Arrival order, breaks length ties so equal-length pairs stay FIFO. */
  order: number;
}

export class Batcher {
  private queue: Entry[] = [];
  private queuedTokens = 0;
  private inFlight = 0;
  /** Dispatched micro-batches, oldest first. */
  private dispatched: Dispatched[] = [];
  private order = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly starveMs: number;
  /** Moving average of inference ms per padded token (MAX_BATCH_MS); undefined until a micro-batch was measured. */
  private msPerToken: number | undefined;

  constructor(
    private readonly backend: Backend,
    private readonly opts: BatcherOptions,
    private readonly hooks: BatcherHooks = {},
  ) {
    this.starveMs = opts.starveMs ?? Math.max(50, 10 * opts.maxWaitMs);
  }

  get queueSize(): number {
    return this.queue.length;
  }

  /**
   * Padded tokens (rows x padded length) the queued pairs would take if run as they are now: in length order, each
   * micro-batch as many neighbours as fit the budget and MAX_BATCH_SIZE. Inference time grows with padded tokens, not
   * with pairs, so this is the queue in units of work (the ko_rerank_queue_padded_tokens gauge, read at scrape time).
   */
  queuedPaddedTokens(): number {
    if (this.queue.length === 0) return 0;
    const lengths = this.queue.map((e) => e.seq.length).sort((a, b) => a - b);
    const budget = this.budget();
    let total = 0;
    let rows = 0;
    let longest = 0;
    for (const len of lengths) {
      if (rows > 0 && (rows + 1 > this.opts.maxBatchSize || (rows + 1) * len > budget)) {
        total += rows * longest;
        rows = 0;
      }
      rows++;
      longest = len;
    }
    return total + rows * longest;
  }

  /** The token budget of the next micro-batch: maxBatchTokens, or less under maxBatchMs at the measured cost. */
  budget(): number {
    const { maxBatchTokens, maxBatchMs } = this.opts;
    if (!maxBatchMs || this.msPerToken === undefined) return maxBatchTokens;
    return Math.max(this.opts.minBatchTokens ?? 1, Math.min(maxBatchTokens, Math.floor(maxBatchMs / this.msPerToken)));
  }

  /** Feeds the cost average from a micro-batch that filled at least half of the budget it was formed under. */
  private measure(paddedTokens: number, budget: number, inferenceMs: number): void {
    if (!this.opts.maxBatchMs || paddedTokens < budget / 2 || !(inferenceMs > 0)) return;
    const cost = inferenceMs / paddedTokens;
    this.msPerToken =
      this.msPerToken === undefined ? cost : this.msPerToken + COST_EWMA_WEIGHT * (cost - this.msPerToken);
  }

  /**
   * Queues the sequences of one request; resolves with their logits in input order. `typeStarts[i]`: where token type
   * 1 starts in seqs[i] (BERT-family pairs); absent when every type id is 0.
   */
  submit(
    seqs: readonly (readonly number[])[],
    signal?: AbortSignal,
    typeStarts?: readonly number[],
  ): Promise<SubmitResult> {
    if (this.closed) return Promise.reject(new Error('batcher is closed'));
    if (seqs.length === 0) return Promise.resolve({ logits: new Float32Array(0), queueMs: 0, inferenceMs: 0 });
    if (signal?.aborted) {
      // Gone before its pairs were queued (e.g. during tokenization): dropped all the same.
      this.hooks.onDropped?.(seqs.length, signal.reason);
      return Promise.reject(new CancelledError());
    }
    return new Promise<SubmitResult>((resolve, reject) => {
      const now = performance.now();
      const job: Job = {
        logits: new Float32Array(seqs.length),
        remaining: seqs.length,
        queued: seqs.length,
        skipped: 0,
        done: false,
        queueMs: 0,
        inferenceMs: 0,
        resolve,
        reject,
      };
      seqs.forEach((seq, index) => {
        this.queue.push({ seq, typeStart: typeStarts?.[index], job, index, enqueuedAt: now, order: this.order++ });
        this.queuedTokens += seq.length;
      });
      if (signal) {
        signal.addEventListener(
          'abort',
          () => {
            if (job.done) return;
            // Drop the request's queued pairs; pairs already in a running micro-batch finish and are ignored.
            const queued = this.queue.length;
            this.fail(job, new CancelledError());
            this.dropFinished();
            this.hooks.onDropped?.(queued - this.queue.length, signal.reason);
          },
          { once: true },
        );
      }
      this.hooks.onQueueSize?.(this.queue.length);
      this.withdrawFor(job);
      this.pump();
    });
  }

  /**
   * Fair mode: asks back the newest micro-batch that waits behind a running one on the backend (more than half of the
   * slots in flight: each worker runs one and keeps one queued) when `job` has less work left than every request in
   * it. The worker gives it back if it has not started it; its rows are then queued again (see dispatch).
   */
  private withdrawFor(job: Job): void {
    if (this.opts.fair === false) return;
    const live = this.dispatched.filter((d) => !d.askedBack);
    if (live.length <= Math.ceil(this.backend.slots / 2)) return;
    const newest = live[live.length - 1]!;
    if (newest.pinned || newest.jobs.has(job)) return;
    for (const other of newest.jobs) if (!other.done && other.remaining <= job.remaining) return;
    newest.askedBack = true;
    newest.withdraw.abort();
  }

  /** Rows of a withdrawn micro-batch go back to the queue with their arrival order and time. */
  private requeue(batch: readonly Entry[]): void {
    const back = batch.filter((e) => !e.job.done);
    if (back.length === 0) return;
    for (const e of back) {
      this.queuedTokens += e.seq.length;
      e.job.queued++;
    }
    this.queue = [...this.queue, ...back].sort((a, b) => a.order - b.order);
    this.hooks.onQueueSize?.(this.queue.length);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const e of this.queue) this.fail(e.job, new Error('batcher is closed'));
    this.queue = [];
    this.queuedTokens = 0;
  }

  private fail(job: Job, err: Error): void {
    if (job.done) return;
    job.done = true;
    job.reject(err);
  }

  private dropFinished(): void {
    const kept = this.queue.filter((e) => !e.job.done);
    if (kept.length === this.queue.length) return;
    this.queue = kept;
    this.queuedTokens = kept.reduce((n, e) => n + e.seq.length, 0);
    // Jobs that are done have no pairs left in the queue; the others' counts did not change.
    this.hooks.onQueueSize?.(this.queue.length);
  }

  /** Enough work queued to fill a micro-batch: no reason to wait. */
  private queueIsFull(): boolean {
    return this.queue.length >= this.opts.maxBatchSize || this.queuedTokens >= this.budget();
  }

  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (!this.closed && this.inFlight < this.backend.slots && this.queue.length > 0) {
      const waited = performance.now() - this.queue[0]!.enqueuedAt;
      // An idle backend gets what is queued at once: waiting would only add latency. While a micro-batch
      // runs, a short queue may wait up to MAX_WAIT_MS for more pairs, since the next batch could not
      // start before the running one ends.
      if (this.inFlight > 0 && !this.queueIsFull() && waited < this.opts.maxWaitMs) {
        this.timer = setTimeout(() => this.pump(), Math.max(0, this.opts.maxWaitMs - waited));
        return;
      }
      const budget = this.budget();
      const { batch, pinned } = this.takeBatch(budget);
      this.hooks.onQueueSize?.(this.queue.length);
      void this.dispatch(batch, pinned, budget);
    }
  }

  /**
   * Takes one micro-batch out of the queue. The queue is viewed in length order; every window of neighbours there
   * that fills the budget (rows x longest length <= MAX_BATCH_TOKENS, rows <= MAX_BATCH_SIZE, as many rows as fit) is a
   * candidate, and the one with the least cost per real token is taken, a batch costing its padded tokens plus a fixed
   * overhead (see bestWindow). Once the oldest pair has waited longer than the starvation bound, only windows that hold
   * it are candidates, so nothing waits forever. A single pair longer than the budget goes alone.
   */
  private takeBatch(budget: number): { batch: Entry[]; pinned: boolean } {
    const sorted = [...this.queue].sort((a, b) => a.seq.length - b.seq.length || a.order - b.order);
    const { entry: anchor, starved: pinned } = this.anchor();
    const lengths = sorted.map((e) => e.seq.length);
    const window = Batcher.bestWindow(lengths, anchor ? sorted.indexOf(anchor) : undefined, {
      maxBatchTokens: budget,
      maxBatchSize: this.opts.maxBatchSize,
    });
    const batch = sorted.slice(...window);
    const taken = new Set(batch);
    this.queue = this.queue.filter((e) => !taken.has(e));
    const served = new Set<Job>();
    for (const e of batch) {
      this.queuedTokens -= e.seq.length;
      e.job.queued--;
      e.job.skipped = 0;
      served.add(e.job);
    }
    const skipped = new Set<Job>();
    for (const e of this.queue) if (!served.has(e.job)) skipped.add(e.job);
    for (const job of skipped) job.skipped++;
    return { batch, pinned };
  }

  /**
   * The pair the next micro-batch must hold, if any. Fair mode, several requests queued: the oldest pair of the
   * request skipped by the most micro-batches once that is STARVE_BATCHES or more, else of the request with the fewest
   * queued pairs (shortest remaining work first: a light request beside a heavy one is done in one or two batches,
   * the heavy one fills the rest of each batch and is never skipped for long). One request alone, or length-only
   * mode: the oldest pair once it has waited starveMs, else none (the least-padded window anywhere). `starved`: the
   * anchor is a request other requests kept waiting (such a batch is never withdrawn).
   */
  private anchor(): { entry: Entry | undefined; starved: boolean } {
    const oldest = this.queue[0]!;
    const byAge = performance.now() - oldest.enqueuedAt >= this.starveMs ? oldest : undefined;
    if (this.opts.fair === false) return { entry: byAge, starved: byAge !== undefined };
    let starved: Job | undefined;
    let smallest: Job | undefined;
    const first = new Map<Job, Entry>();
    for (const e of this.queue) {
      if (first.has(e.job)) continue;
      first.set(e.job, e);
      if (e.job.skipped >= STARVE_BATCHES && (!starved || e.job.skipped > starved.skipped)) starved = e.job;
      if (!smallest || e.job.queued < smallest.queued) smallest = e.job;
    }
    // One request alone: its age only orders its own pairs, so nothing to protect from withdrawal.
    if (first.size === 1) return { entry: byAge, starved: false };
    return { entry: first.get(starved ?? smallest!), starved: starved !== undefined };
  }

  /**
   * The [start, end) window of `lengths` (sorted ascending) to run next: for each start the longest window that fits
   * the budget, and of those the one with the least (rows x longest + overhead) / real tokens, overhead being
   * MAX_BATCH_TOKENS / 16 (the per-run cost: without it, single-pair batches with no padding would win). Only windows
   * holding index `anchor` when it is given. O(candidate starts x log n).
   */
  static bestWindow(
    lengths: readonly number[],
    anchor: number | undefined,
    opts: { maxBatchTokens: number; maxBatchSize: number },
  ): [number, number] {
    const n = lengths.length;
    const overhead = opts.maxBatchTokens / BATCH_OVERHEAD_SHARE;
    const prefix = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i]! + lengths[i]!;
    const first = anchor === undefined ? 0 : Math.max(0, anchor - opts.maxBatchSize + 1);
    const last = anchor ?? n - 1;
    let best: [number, number] = [last, last + 1];
    let bestRows = 0;
    let bestCost = Infinity;
    for (let i = first; i <= last; i++) {
      // Largest end j (exclusive) with j - i <= maxBatchSize and batchCost(j - i, lengths[j - 1]) <= maxBatchTokens; the
      // condition only gets harder as j grows (lengths ascending), so binary search.
      let lo = (anchor ?? i) + 1;
      let hi = Math.min(n, i + opts.maxBatchSize);
      if (lo - i > 1 && batchCost(lo - i, lengths[lo - 1]!) > opts.maxBatchTokens) continue;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (batchCost(mid - i, lengths[mid - 1]!) <= opts.maxBatchTokens) lo = mid;
        else hi = mid - 1;
      }
      const rows = lo - i;
      const real = prefix[lo]! - prefix[i]!;
      const cost = (batchCost(rows, lengths[lo - 1]!) + overhead) / real;
      if (cost < bestCost || (cost === bestCost && rows > bestRows)) {
        best = [i, lo];
        bestRows = rows;
        bestCost = cost;
      }
    }
    return best;
  }

  /**
   * Builds the padded int64 tensors of a micro-batch; token type ids too when a row has a type-1 segment (1 from its
   * typeStart to its end, 0 before and on padding, as transformers pads them).
   */
  static buildTensors(
    batch: readonly Entry[] | readonly (readonly number[])[],
    padId: number,
    typeStarts?: readonly (number | undefined)[],
  ): TensorBatch {
    const seqs = batch.map((b) => ('seq' in b ? b.seq : b));
    const starts = typeStarts ?? batch.map((b) => ('seq' in b ? b.typeStart : undefined));
    const rows = seqs.length;
    const seqLen = seqs.reduce((m, s) => Math.max(m, s.length), 0);
    const ids = new BigInt64Array(rows * seqLen).fill(BigInt(padId));
    const mask = new BigInt64Array(rows * seqLen);
    const typed = starts.some((ts, r) => ts !== undefined && ts < seqs[r]!.length);
    const typeIds = typed ? new BigInt64Array(rows * seqLen) : undefined;
    for (let r = 0; r < rows; r++) {
      const s = seqs[r]!;
      const off = r * seqLen;
      for (let i = 0; i < s.length; i++) {
        ids[off + i] = BigInt(s[i]!);
        mask[off + i] = 1n;
      }
      if (typeIds) typeIds.fill(1n, off + (starts[r] ?? s.length), off + s.length);
    }
    return typeIds ? { rows, seqLen, ids, mask, typeIds, padId } : { rows, seqLen, ids, mask, padId };
  }

  private async dispatch(batch: Entry[], pinned: boolean, budget: number): Promise<void> {
    this.inFlight++;
    const sent: Dispatched = {
      jobs: new Set(batch.map((e) => e.job)),
      withdraw: new AbortController(),
      askedBack: false,
      pinned,
    };
    this.dispatched.push(sent);
    const now = performance.now();
    let queueMs = 0;
    for (const e of batch) {
      const waited = now - e.enqueuedAt;
      queueMs = Math.max(queueMs, waited);
      e.job.queueMs = Math.max(e.job.queueMs, waited);
    }
    const tensors = Batcher.buildTensors(batch, this.opts.padId);
    const realTokens = batch.reduce((n, e) => n + e.seq.length, 0);
    try {
      const { logits, inferenceMs, failed } = await this.backend.run(tensors, sent.withdraw.signal);
      if (!failed) this.measure(batchCost(tensors.rows, tensors.seqLen), budget, inferenceMs);
      this.hooks.onBatch?.({
        rows: tensors.rows,
        seqLen: tensors.seqLen,
        paddedTokens: tensors.rows * tensors.seqLen,
        realTokens,
        queueMs,
        inferenceMs,
      });
      // Rows that failed even alone (SplitRetryBackend) fail only the requests that own them.
      if (failed) {
        for (const r of failed.rows) if (batch[r]) this.fail(batch[r]!.job, new Error(failed.message));
        this.dropFinished();
      }
      const jobs = new Set<Job>();
      batch.forEach((e, r) => {
        if (e.job.done) return;
        e.job.logits[e.index] = logits[r]!;
        e.job.remaining--;
        jobs.add(e.job);
      });
      for (const job of jobs) {
        job.inferenceMs += inferenceMs;
        if (job.remaining === 0) {
          job.done = true;
          job.resolve({ logits: job.logits, queueMs: job.queueMs, inferenceMs: job.inferenceMs });
        }
      }
    } catch (err) {
      if (err instanceof RunWithdrawnError && !this.closed) {
        this.hooks.onWithdrawn?.(batch.length);
        this.requeue(batch);
      } else {
        // Withdrawn while the batcher closed: its rows fail as the queued ones did.
        const reason = err instanceof RunWithdrawnError ? new Error('batcher is closed') : (err as Error);
        for (const e of batch) this.fail(e.job, reason);
        this.dropFinished();
      }
    } finally {
      this.inFlight--;
      this.dispatched.splice(this.dispatched.indexOf(sent), 1);
      this.pump();
    }
  }
}
