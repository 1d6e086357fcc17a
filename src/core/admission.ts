// Admission control: the bound on accepted work (backpressure), per-request deadlines and the drain on shutdown.
// The engine asks here before it queues a request's pairs; everything it refuses is an error value
// (overloaded -> 429 with Retry-After, timeout / shutting_down -> 503), mapped to statuses in src/http/errors.ts.
import { Counter, Gauge, type Registry } from 'prom-client';
import { ServiceError } from './errors.ts';

/** Counters of what was refused, dropped or isolated; registered in the service registry. */
export class ReliabilityMetrics {
  readonly rejected: Counter<'reason'>;
  readonly droppedPairs: Counter<'reason'>;
  readonly admittedPairs: Gauge;
  readonly splits: Counter;
  readonly failedPairs: Counter;
  readonly workerRestarts: Counter<'reason'>;
  readonly restartFailures: Counter;
  readonly heldBodyBytes: Gauge;

  constructor(registry: Registry) {
    this.heldBodyBytes = new Gauge({
      name: 'ko_rerank_inflight_body_bytes',
      help: 'Bytes of request bodies admitted and not yet answered (Content-Length), the quantity MAX_INFLIGHT_BODY_BYTES bounds',
      registers: [registry],
    });
    this.workerRestarts = new Counter({
      name: 'ko_rerank_worker_restarts_total',
      help: 'Inference workers lost and replaced: exit (the thread exited), error (uncaught error), hang (run bound or heartbeat)',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
    this.restartFailures = new Counter({
      name: 'ko_rerank_worker_restart_failures_total',
      help: 'Attempts to start a replacement inference worker that failed (WORKER_MAX_RESTARTS in a row: /health 503)',
      registers: [registry],
    });
    for (const reason of ['exit', 'error', 'hang']) this.workerRestarts.inc({ reason }, 0);
    this.rejected = new Counter({
      name: 'ko_rerank_rejected_requests_total',
      help: 'Inference requests refused before any work: overloaded (429, MAX_QUEUE_PAIRS) or shutting_down (503)',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
    this.droppedPairs = new Counter({
      name: 'ko_rerank_dropped_pairs_total',
      help: 'Queued pairs removed before reaching the model: disconnect (client went away) or timeout (deadline passed)',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
    this.admittedPairs = new Gauge({
      name: 'ko_rerank_admitted_pairs',
      help: 'Pairs accepted and not yet scored (queued or running), the quantity MAX_QUEUE_PAIRS bounds',
      registers: [registry],
    });
    this.splits = new Counter({
      name: 'ko_rerank_batch_splits_total',
      help: 'Micro-batches whose run failed and were split in halves and retried',
      registers: [registry],
    });
    this.failedPairs = new Counter({
      name: 'ko_rerank_failed_pairs_total',
      help: 'Pairs whose inference failed even alone (their requests get a backend error)',
      registers: [registry],
    });
    for (const reason of ['overloaded', 'shutting_down']) this.rejected.inc({ reason }, 0);
    for (const reason of ['disconnect', 'timeout']) this.droppedPairs.inc({ reason }, 0);
  }
}

export interface AdmissionOptions {
  maxQueuePairs: number;
  requestTimeoutMs: number;
  /** Refuse (429) a request whose predicted wait passes its deadline (ADMIT_BY_WAIT, default true). */
  admitByWait?: boolean;
  /** Micro-batches the backend runs at once (WORKERS, default 1): the scoring rate is this many runs' worth. */
  parallelRuns?: number;
}

/** A request's deadline: its signal aborts on client disconnect or when the deadline passes. */
export interface Deadline {
  signal: AbortSignal;
  timedOut(): boolean;
  ms: number;
  /** Clears the timer and the listener on the client signal: call it when the request is answered. */
  dispose(): void;
}

/** A micro-batch the backend ran (the batcher's onBatch): what the scoring rate is measured from. */
export interface RunCost {
  rows: number;
  paddedTokens: number;
  inferenceMs: number;
}

/**
 * The cost averages forget half of what they knew per this many padded tokens run: a few full micro-batches move
 * them, a trickle of small ones barely does, and time alone (idle) never does.
 */
const COST_HALF_LIFE_TOKENS = 50_000;

export class Admission {
  private pairs = 0;
  private requests = 0;
  private draining = false;
  private idleWaiters: (() => void)[] = [];
  /**
   * Decayed sums over the micro-batches run (each weighs its padded tokens): inference ms, padded tokens, rows. Their
   * ratios are the measured ms per padded token and padded tokens per pair. They change only when micro-batches run:
   * kept across idle gaps (nothing runs) and worker restarts (they measure the model on this machine, not a worker).
   */
  private costMs = 0;
  private costTokens = 0;
  private costRows = 0;
  /** Pair counts of the admitted requests not yet answered (for the wait prediction). */
  private inflight: number[] = [];

  constructor(
    private readonly opts: AdmissionOptions,
    private readonly metrics: ReliabilityMetrics,
  ) {}

  get shuttingDown(): boolean {
    return this.draining;
  }

  /** Pairs accepted and not yet scored. */
  get admitted(): number {
    return this.pairs;
  }

  /** Requests inside the engine (between enter() and leave()). */
  get active(): number {
    return this.requests;
  }

  /** A request starts: refused with shutting_down once the drain has begun. */
  enter(): void {
    if (this.draining) {
      this.metrics.rejected.inc({ reason: 'shutting_down' });
      throw new ServiceError('shutting_down', 'the server is shutting down; retry on another replica', 1);
    }
    this.requests++;
  }

  leave(): void {
    this.requests--;
    if (this.requests === 0) this.notifyIdle();
  }

  /**
   * The request's deadline: REQUEST_TIMEOUT_MS, or the request's own timeout_ms when shorter. One controller per
   * request, its timer cleared by dispose(): nothing outlives the request (AbortSignal.timeout would keep the
   * signal and what its listeners hold alive until the timer fires).
   */
  deadline(client: AbortSignal | undefined, timeoutMs?: number): Deadline {
    const ms = timeoutMs === undefined ? this.opts.requestTimeoutMs : Math.min(timeoutMs, this.opts.requestTimeoutMs);
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort(new DOMException(`deadline of ${ms} ms passed`, 'TimeoutError'));
    }, ms);
    const onClient = () => ac.abort(client!.reason);
    if (client?.aborted) onClient();
    else client?.addEventListener('abort', onClient, { once: true });
    return {
      signal: ac.signal,
      timedOut: () => timedOut,
      ms,
      dispose: () => {
        clearTimeout(timer);
        client?.removeEventListener('abort', onClient);
      },
    };
  }

  /**
   * Throws overloaded (429) when `pairs` more would pass MAX_QUEUE_PAIRS, or (ADMIT_BY_WAIT) when the predicted time
   * to score them passes `deadlineMs`; one request alone is always accepted.
   */
  check(pairs: number, deadlineMs?: number): void {
    if (this.pairs === 0) return;
    if (this.pairs + pairs > this.opts.maxQueuePairs) {
      this.metrics.rejected.inc({ reason: 'overloaded' });
      throw new ServiceError(
        'overloaded',
        `server busy: ${this.pairs} pairs queued, ${pairs} more would pass MAX_QUEUE_PAIRS=${this.opts.maxQueuePairs}; retry after the Retry-After seconds`,
        this.retryAfterS(),
      );
    }
    if (this.opts.admitByWait === false || deadlineMs === undefined) return;
    const waitMs = this.predictedMs(pairs);
    if (waitMs === undefined || waitMs <= deadlineMs) return;
    this.metrics.rejected.inc({ reason: 'overloaded' });
    throw new ServiceError(
      'overloaded',
      `server busy: scoring these ${pairs} pairs is predicted to take ${Math.round(waitMs)} ms at the measured throughput, more than the request's ${deadlineMs} ms deadline; retry after the Retry-After seconds`,
      Math.min(60, Math.max(1, Math.ceil((waitMs - deadlineMs) / 1000))),
    );
  }

  /**
   * Predicted ms until a new request of `pairs` pairs is scored, under the batcher's fair sharing: its own pairs plus,
   * of each admitted request, as many pairs as it has (min(p, pairs)), at the measured scoring rate (throughput()).
   * Undefined before any micro-batch was measured.
   */
  predictedMs(pairs: number): number | undefined {
    const perS = this.throughput();
    if (perS === undefined) return undefined;
    let ahead = pairs;
    for (const p of this.inflight) ahead += Math.min(p, pairs);
    return (ahead * 1000) / perS;
  }

  /** A micro-batch ran (the batcher's onBatch): it feeds the measured scoring rate. */
  observeRun(run: RunCost): void {
    if (!(run.inferenceMs > 0) || !(run.paddedTokens > 0) || !(run.rows > 0)) return;
    const keep = 0.5 ** (run.paddedTokens / COST_HALF_LIFE_TOKENS);
    this.costMs = this.costMs * keep + run.inferenceMs;
    this.costTokens = this.costTokens * keep + run.paddedTokens;
    this.costRows = this.costRows * keep + run.rows;
  }

  /** Accepts `pairs` (throws overloaded past the bounds); release() them once the request is answered. */
  acquire(pairs: number, deadlineMs?: number): void {
    this.check(pairs, deadlineMs);
    this.pairs += pairs;
    this.inflight.push(pairs);
    this.metrics.admittedPairs.set(this.pairs);
  }

  /**
   * Changes a request's admitted pairs from `from` to `to` (chunking makes more); more is checked against the bounds.
   */
  resize(from: number, to: number, deadlineMs?: number): void {
    if (to > from) {
      this.pairs -= from;
      try {
        this.check(to, deadlineMs);
      } finally {
        this.pairs += from;
      }
    }
    this.pairs += to - from;
    const i = this.inflight.indexOf(from);
    if (i >= 0) this.inflight[i] = to;
    this.metrics.admittedPairs.set(this.pairs);
  }

  /** Releases a request's pairs once it is answered. `_scored` (the pairs that were run) is kept for callers. */
  release(pairs: number, _scored = 0): void {
    this.pairs -= pairs;
    const i = this.inflight.indexOf(pairs);
    if (i >= 0) this.inflight.splice(i, 1);
    this.metrics.admittedPairs.set(this.pairs);
  }

  /**
   * Pairs the server scores per second: parallelRuns / (measured ms per padded token x padded tokens per pair), both
   * from the micro-batches run (observeRun); undefined before any was. From the cost of the work itself, not from
   * recent completions: a burst after an idle gap or a worker restart is judged at the rate the server has shown,
   * not at the few requests answered in its first second (which made it refuse what it could serve).
   */
  private throughput(): number | undefined {
    if (this.costRows === 0) return undefined;
    // (ms per padded token) x (padded tokens per pair) = ms per pair.
    const msPerPair = this.costMs / this.costRows;
    return ((this.opts.parallelRuns ?? 1) * 1000) / msPerPair;
  }

  /** Seconds until the queue has room again at the measured throughput: between 1 and 60. */
  retryAfterS(): number {
    const perS = this.throughput();
    if (perS === undefined) return 1;
    const excess = this.pairs - this.opts.maxQueuePairs / 2;
    return Math.min(60, Math.max(1, Math.ceil(excess / perS)));
  }

  /** Begins the drain: new requests are refused from now on. Resolves true once no request is inside the engine,
   * false if that takes longer than graceMs. */
  drain(graceMs: number): Promise<boolean> {
    this.draining = true;
    if (this.requests === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), graceMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
