// The batcher: encoded pairs of all in-flight requests share one queue. Micro-batches are formed under a
// token budget (rows x padded length) and a row cap, grouped by length, padded to their own longest pair.
// Results go back to each request in input order.
import type { Backend, TensorBatch } from '../backend/onnx.ts';

export interface BatcherOptions {
  maxBatchTokens: number;
  maxBatchSize: number;
  maxWaitMs: number;
  padId: number;
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
}

export interface SubmitResult {
  /** One logit per submitted sequence, in input order. */
  logits: Float32Array;
  /** Longest time one of the request's pairs waited in the queue. */
  queueMs: number;
  /** Summed inference time of the micro-batches the request took part in. */
  inferenceMs: number;
}

export class CancelledError extends Error {
  constructor() {
    super('request cancelled');
    this.name = 'CancelledError';
  }
}

interface Job {
  logits: Float32Array;
  remaining: number;
  done: boolean;
  queueMs: number;
  inferenceMs: number;
  resolve: (r: SubmitResult) => void;
  reject: (e: Error) => void;
}

interface Entry {
  seq: readonly number[];
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
  private order = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly backend: Backend,
    private readonly opts: BatcherOptions,
    private readonly hooks: BatcherHooks = {},
  ) {}

  get queueSize(): number {
    return this.queue.length;
  }

  /** Queues the sequences of one request; resolves with their logits in input order. */
  submit(seqs: readonly (readonly number[])[], signal?: AbortSignal): Promise<SubmitResult> {
    if (this.closed) return Promise.reject(new Error('batcher is closed'));
    if (seqs.length === 0) return Promise.resolve({ logits: new Float32Array(0), queueMs: 0, inferenceMs: 0 });
    if (signal?.aborted) return Promise.reject(new CancelledError());
    return new Promise<SubmitResult>((resolve, reject) => {
      const job: Job = { logits: new Float32Array(seqs.length), remaining: seqs.length, done: false, queueMs: 0, inferenceMs: 0, resolve, reject };
      const now = performance.now();
      seqs.forEach((seq, index) => {
        this.queue.push({ seq, job, index, enqueuedAt: now, order: this.order++ });
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
      this.pump();
    });
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
    this.hooks.onQueueSize?.(this.queue.length);
  }

  /** Enough work queued to fill a micro-batch: no reason to wait. */
  private queueIsFull(): boolean {
    return this.queue.length >= this.opts.maxBatchSize || this.queuedTokens >= this.opts.maxBatchTokens;
  }

  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (!this.closed && this.inFlight < this.backend.slots && this.queue.length > 0) {
      const waited = performance.now() - this.queue[0]!.enqueuedAt;
      if (!this.queueIsFull() && waited < this.opts.maxWaitMs) {
        this.timer = setTimeout(() => this.pump(), Math.max(0, this.opts.maxWaitMs - waited));
        return;
      }
      const batch = this.takeBatch();
      this.hooks.onQueueSize?.(this.queue.length);
      void this.dispatch(batch);
    }
  }

  /**
   * Takes one micro-batch out of the queue: anchored on the oldest pair (so nothing starves), extended with its
   * neighbours in length order while rows x padded length stays within the budget and rows within the cap.
   * A single pair longer than the budget still goes alone.
   */
  private takeBatch(): Entry[] {
    const sorted = [...this.queue].sort((a, b) => a.seq.length - b.seq.length || a.order - b.order);
    const anchor = this.queue[0]!;
    let lo = sorted.indexOf(anchor);
    let hi = lo;
    let longest = anchor.seq.length;
    const { maxBatchTokens, maxBatchSize } = this.opts;
    const fits = (e: Entry | undefined, rows: number): boolean =>
      e !== undefined && rows + 1 <= maxBatchSize && (rows + 1) * Math.max(longest, e.seq.length) <= maxBatchTokens;
    for (;;) {
      const rows = hi - lo + 1;
      const left = sorted[lo - 1];
      const right = sorted[hi + 1];
      const leftOk = fits(left, rows);
      const rightOk = fits(right, rows);
      if (!leftOk && !rightOk) break;
      // Prefer the neighbour whose length is closer to the batch's longest pair: less padding.
      const takeLeft = leftOk && (!rightOk || longest - left!.seq.length <= right!.seq.length - longest);
      if (takeLeft) lo--;
      else {
        hi++;
        longest = Math.max(longest, right!.seq.length);
      }
    }
    const batch = sorted.slice(lo, hi + 1);
    const taken = new Set(batch);
    this.queue = this.queue.filter((e) => !taken.has(e));
    for (const e of batch) this.queuedTokens -= e.seq.length;
    return batch;
  }

  /** Builds the padded int64 tensors of a micro-batch. */
  static buildTensors(batch: readonly Entry[] | readonly (readonly number[])[], padId: number): TensorBatch {
    const seqs = batch.map((b) => ('seq' in b ? b.seq : b));
    const rows = seqs.length;
    const seqLen = seqs.reduce((m, s) => Math.max(m, s.length), 0);
    const ids = new BigInt64Array(rows * seqLen).fill(BigInt(padId));
    const mask = new BigInt64Array(rows * seqLen);
    for (let r = 0; r < rows; r++) {
      const s = seqs[r]!;
      const off = r * seqLen;
      for (let i = 0; i < s.length; i++) {
        ids[off + i] = BigInt(s[i]!);
        mask[off + i] = 1n;
      }
    }
    return { rows, seqLen, ids, mask };
  }

  private async dispatch(batch: Entry[]): Promise<void> {
    this.inFlight++;
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
      const { logits, inferenceMs, failed } = await this.backend.run(tensors);
      this.hooks.onBatch?.({ rows: tensors.rows, seqLen: tensors.seqLen, paddedTokens: tensors.rows * tensors.seqLen, realTokens, queueMs, inferenceMs });
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
      for (const e of batch) this.fail(e.job, err as Error);
      this.dropFinished();
    } finally {
      this.inFlight--;
      this.pump();
    }
  }
}
