// The ONNX backend: a pool of worker threads, each owning one InferenceSession.
// Speaks tensors only: int64 ids/mask in, float32 logits out.
import { Worker } from 'node:worker_threads';
import type { Device } from '../config.ts';
import type {
  CloseMessage,
  FromWorker,
  PingMessage,
  ReadyMessage,
  RunMessage,
  WorkerInit,
  WorkerStart,
} from './protocol.ts';
import type { SessionSettings } from './session-options.ts';
import { probeCuda } from './cuda-probe.ts';
import {
  BackendDownError,
  BackendError,
  RunWithdrawnError,
  WorkerLostError,
  type Backend,
  type BackendInfo,
  type BackendResult,
  type LossReason,
  type PoolHealth,
  type PoolHooks,
  type TensorBatch,
} from './contract.ts';

export interface OnnxBackendOptions extends SessionSettings {
  onnxPath: string;
  device: Device;
  workers: number;
  /** Watchdog: WATCHDOG_MS per 1,000 padded tokens of a run (0 = off). */
  watchdogMs?: number;
  /** Restarts in a row that may fail before the pool gives up (WORKER_MAX_RESTARTS). */
  maxRestarts?: number;
  /** Module the worker threads run (default: the production worker); tests pass one that also takes faults. */
  workerUrl?: URL;
}

/** How long close() lets a worker finish its queued runs and release its session before terminating it. */
const CLOSE_GRACE_MS = 10_000;

interface Pending {
  resolve: (r: BackendResult) => void;
  reject: (e: Error) => void;
  tokens: number;
  seqLen: number;
}

/** Heartbeat: how often the pool pings each worker. */
export const HEARTBEAT_INTERVAL_MS = 500;
/** A worker not inside a run that answers nothing (pong, result) for this long is hung, idle or not. */
export const HEARTBEAT_TIMEOUT_MS = 2500;
/** A run may take this many times its expected time (its work x measured ms per unit of work) ... */
const RUN_BOUND_FACTOR = 20;
/** ... and never less than this. */
const RUN_BOUND_FLOOR_MS = 2000;

/**
 * The work of one run, in padded tokens of 512-token rows: rows x seqLen, times seqLen / 512 beyond 512 tokens a row
 * (attention's cost per token grows with the sequence length), as the batcher counts a micro-batch's cost.
 */
export function runWork(paddedTokens: number, seqLen = 0): number {
  return paddedTokens * Math.max(1, seqLen / 512);
}

/**
 * Watchdog bound of one run (ms from its start), 0 = none (WATCHDOG_MS=0): RUN_BOUND_FACTOR times what the run is
 * expected to take at the pool's measured ms per unit of work (runWork), never less than RUN_BOUND_FLOOR_MS; never
 * more than WATCHDOG_MS per 1,000 units of work (with WATCHDOG_MS at least), which alone applies before anything is
 * measured. The one place the run bound is decided.
 */
export function watchdogBoundMs(watchdogMs: number, paddedTokens: number, seqLen = 0, msPerWork?: number): number {
  if (watchdogMs <= 0) return 0;
  const work = runWork(paddedTokens, seqLen);
  const ceiling = Math.round(watchdogMs * Math.max(1, work / 1000));
  if (msPerWork === undefined || !(msPerWork > 0)) return ceiling;
  return Math.min(ceiling, Math.round(Math.max(RUN_BOUND_FLOOR_MS, RUN_BOUND_FACTOR * work * msPerWork)));
}

class InferenceWorker {
  /** Runs posted and not answered, in the order the worker runs them (one at a time). */
  readonly pending = new Map<number, Pending>();
  private dead: Error | undefined;
  /** The run the worker said it started (StartedMessage) and has not answered: the run bound counts from `since`. */
  private running: { id: number; since: number; tokens: number; seqLen: number } | undefined;
  /** When the worker was last heard from (any message): the heartbeat's clock. */
  private lastHeard = performance.now();
  private lastTick = performance.now();
  private readonly heartbeat: NodeJS.Timeout | undefined;
  /** A run has finished on this worker since it started. */
  proven = false;

  constructor(
    readonly worker: Worker,
    /** Shared with the worker: the id of a queued run to withdraw (WorkerStart.withdraw). */
    private readonly withdraw: Int32Array,
    /** The run bound of a run of rows x seqLen padded tokens (watchdogBoundMs with the pool's measurement); 0 = off. */
    private readonly boundMs: (paddedTokens: number, seqLen: number) => number,
    private readonly onLost: (w: InferenceWorker, reason: LossReason, message: string, runs: number) => void,
    private readonly onRun: (paddedTokens: number, seqLen: number, inferenceMs: number) => void,
  ) {
    worker.on('message', (msg: FromWorker) => {
      this.lastHeard = performance.now();
      if (msg.type === 'started') {
        const p = this.pending.get(msg.id);
        if (p) this.running = { id: msg.id, since: this.lastHeard, tokens: p.tokens, seqLen: p.seqLen };
        return;
      }
      if (msg.type === 'result' || msg.type === 'run-error' || msg.type === 'withdrawn') {
        if (this.running?.id === msg.id) this.running = undefined;
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.type === 'withdrawn') return p.reject(new RunWithdrawnError());
        this.proven = true;
        if (msg.type === 'result') {
          this.onRun(p.tokens, p.seqLen, msg.inferenceMs);
          p.resolve({ logits: new Float32Array(msg.logits), inferenceMs: msg.inferenceMs });
        } else {
          this.onRun(p.tokens, p.seqLen, Number.NaN);
          p.reject(new BackendError(msg.message));
        }
      }
    });
    worker.on('error', (err) => this.lose('error', `inference worker crashed: ${err.message}`));
    worker.on('exit', (code) => this.lose('exit', `inference worker exited with code ${code}`));
    if (boundMs(1, 1) > 0) {
      this.heartbeat = setInterval(() => this.check(), HEARTBEAT_INTERVAL_MS);
      this.heartbeat.unref();
    }
  }

  get alive(): boolean {
    return this.dead === undefined;
  }

  /**
   * Every HEARTBEAT_INTERVAL_MS: a run going on longer than its bound, or (outside a run) a worker silent for
   * HEARTBEAT_TIMEOUT_MS, is a hang: the worker is replaced. Both count from what the worker said, never from the
   * requests (whose deadlines may pass long before): a hang is noticed whatever they are, idle or busy. Then the next
   * ping. A tick that comes late (this event loop was blocked) judges nothing: the worker's answers may be queued.
   */
  private check(): void {
    const now = performance.now();
    const late = now - this.lastTick > 2 * HEARTBEAT_INTERVAL_MS;
    this.lastTick = now;
    if (!late && this.running) {
      const bound = this.boundMs(this.running.tokens, this.running.seqLen);
      if (bound > 0 && now - this.running.since > bound) {
        return this.hung(
          `inference worker hung: a session.run of ${this.running.tokens} padded tokens took longer than ${bound} ms (WATCHDOG_MS)`,
        );
      }
    } else if (!late && now - this.lastHeard > HEARTBEAT_TIMEOUT_MS) {
      return this.hung(
        `inference worker hung: no answer to its heartbeat for ${Math.round(now - this.lastHeard)} ms (${this.pending.size} runs waiting on it)`,
      );
    }
    this.worker.postMessage({ type: 'ping' } satisfies PingMessage);
  }

  private hung(message: string): void {
    this.lose('hang', message);
    // A thread stuck in native code only ends when the call returns; the replacement does not wait for it.
    void this.worker.terminate().catch(() => {});
  }

  /** The worker is gone (or given up on): its runs fail, the pool replaces it. Only the first call counts. */
  private lose(reason: LossReason, message: string): void {
    if (this.dead) return;
    const err = new WorkerLostError(message);
    this.dead = err;
    clearInterval(this.heartbeat);
    const runs = this.pending.size;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.onLost(this, reason, message, runs);
  }

  run(id: number, batch: TensorBatch, signal?: AbortSignal): Promise<BackendResult> {
    if (this.dead) return Promise.reject(this.dead);
    if (signal?.aborted) return Promise.reject(new RunWithdrawnError());
    // The worker claims the cell just before it starts run `id`; set after that, it matches nothing.
    signal?.addEventListener('abort', () => void Atomics.store(this.withdraw, 0, id), { once: true });
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, tokens: batch.rows * batch.seqLen, seqLen: batch.seqLen });
      const ids = batch.ids.buffer as ArrayBuffer;
      const mask = batch.mask.buffer as ArrayBuffer;
      const typeIds = batch.typeIds?.buffer as ArrayBuffer | undefined;
      const msg: RunMessage = {
        type: 'run',
        id,
        rows: batch.rows,
        seqLen: batch.seqLen,
        ids,
        mask,
        typeIds,
        padId: batch.padId,
      };
      this.worker.postMessage(msg, typeIds ? [ids, mask, typeIds] : [ids, mask]);
    });
  }

  /** Lets the worker finish what it has, release its session and exit; terminates it if that takes too long. */
  async close(): Promise<void> {
    if (this.dead) return;
    this.dead = new BackendError('backend is closed');
    clearInterval(this.heartbeat);
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ type: 'close' } satisfies CloseMessage);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CLOSE_GRACE_MS)));
    if ((await Promise.race([exited, late])) === 'late') await this.worker.terminate();
    clearTimeout(timer);
  }
}

// From the sources (tsx) the worker needs the bootstrap that registers tsx; compiled (dist/) it runs on plain node.
const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './worker-bootstrap.mjs' : './onnx-worker.js',
  import.meta.url,
);

function startWorker(
  init: WorkerInit,
  url: URL,
): Promise<{ worker: Worker; withdraw: Int32Array; ready: ReadyMessage }> {
  const start: WorkerStart = { ...init, withdraw: new SharedArrayBuffer(4) };
  const worker = new Worker(url, { workerData: start });
  const withdraw = new Int32Array(start.withdraw);
  return new Promise((resolve, reject) => {
    const onMessage = (msg: FromWorker) => {
      if (msg.type === 'ready') {
        cleanup();
        resolve({ worker, withdraw, ready: msg });
      } else if (msg.type === 'init-error') {
        cleanup();
        void worker.terminate();
        reject(new BackendError(msg.message));
      }
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new BackendError(`inference worker failed to start: ${err.message}`));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new BackendError(`inference worker exited during start-up with code ${code}`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

/** Back-off between restart attempts: 0, then 250 ms doubling to 10 s. */
const restartDelayMs = (strikes: number) => (strikes === 0 ? 0 : Math.min(10_000, 250 * 2 ** (strikes - 1)));

export class OnnxBackend implements Backend {
  readonly slots: number;
  private nextId = 1;
  private closed = false;
  private readonly workers: (InferenceWorker | undefined)[];
  /** Failed starts and deaths of workers that never finished a run, since the last run that finished anywhere. */
  private strikes = 0;
  private down: BackendDownError | undefined;
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  /**
   * Moving average of a run's ms per unit of work (runWork), over the pool: the run bound's measure of what a run
   * should take.
   * Kept across idle time and worker restarts (undefined until a run finished: the WATCHDOG_MS ceiling applies).
   */
  private msPerWork: number | undefined;

  private constructor(
    workers: { worker: Worker; withdraw: Int32Array }[],
    readonly info: BackendInfo,
    private readonly init: WorkerInit,
    private readonly opts: { watchdogMs: number; maxRestarts: number; workerUrl: URL },
    private readonly hooks: PoolHooks,
  ) {
    this.workers = workers.map((w) => this.wrap(w.worker, w.withdraw));
    // Two micro-batches per worker: the next one is prepared and queued in the worker while the current one runs
    // (the worker runs them one at a time).
    this.slots = workers.length * 2;
  }

  /** Starts the workers; each loads the model and does a warm-up run before this resolves. */
  static async start(opts: OnnxBackendOptions, hooks: PoolHooks = {}): Promise<OnnxBackend> {
    // Look before asking onnxruntime: with no CUDA here, DEVICE=auto goes straight to CPU (no onnxruntime error text
    // on the console) and DEVICE=cuda fails naming what is missing.
    let device = opts.device;
    let unavailable: string | undefined;
    if (device !== 'cpu') {
      const probe = probeCuda();
      if (!probe.ok) {
        if (device === 'cuda')
          throw new BackendError(`DEVICE=cuda but the CUDA execution provider cannot load: ${probe.reason}`);
        device = 'cpu';
        unavailable = probe.reason;
      }
    }
    const init: WorkerInit = {
      onnxPath: opts.onnxPath,
      device,
      intraOpThreads: opts.intraOpThreads,
      spinning: opts.spinning,
      cudaDeviceId: opts.cudaDeviceId,
    };
    const url = opts.workerUrl ?? WORKER_URL;
    const started = await Promise.allSettled(Array.from({ length: opts.workers }, () => startWorker(init, url)));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.worker.terminate() : undefined)));
      throw failed.reason as Error;
    }
    const ok = started.map(
      (s) => (s as PromiseFulfilledResult<{ worker: Worker; withdraw: Int32Array; ready: ReadyMessage }>).value,
    );
    const { type: _type, ...info } = ok[0]!.ready;
    if (unavailable) info.fallbackReason = unavailable;
    return new OnnxBackend(
      ok,
      info,
      init,
      { watchdogMs: opts.watchdogMs ?? 0, maxRestarts: opts.maxRestarts ?? 5, workerUrl: url },
      hooks,
    );
  }

  private wrap(worker: Worker, withdraw: Int32Array): InferenceWorker {
    return new InferenceWorker(
      worker,
      withdraw,
      (tokens, seqLen) => watchdogBoundMs(this.opts.watchdogMs, tokens, seqLen, this.msPerWork),
      (w, reason, message, runs) => this.lost(w, reason, message, runs),
      (tokens, seqLen, inferenceMs) => {
        this.strikes = 0;
        if (!(inferenceMs >= 0) || tokens <= 0) return;
        const sample = inferenceMs / runWork(tokens, seqLen);
        this.msPerWork = this.msPerWork === undefined ? sample : 0.8 * this.msPerWork + 0.2 * sample;
      },
    );
  }

  health(): PoolHealth {
    const up = this.workers.filter((w) => w?.alive).length;
    return { up, total: this.workers.length, down: this.down?.message };
  }

  private lost(w: InferenceWorker, reason: LossReason, message: string, runs: number): void {
    const index = this.workers.indexOf(w);
    if (index < 0 || this.closed) return;
    this.workers[index] = undefined;
    if (!w.proven) this.strikes++;
    this.hooks.onWorkerLost?.({ worker: index, reason, message, runs });
    this.restart(index);
  }

  private restart(index: number): void {
    if (this.closed || this.down) return;
    if (this.strikes > this.opts.maxRestarts) {
      this.giveUp(
        index,
        `${this.strikes} worker starts in a row failed or died before finishing a run (WORKER_MAX_RESTARTS=${this.opts.maxRestarts})`,
      );
      return;
    }
    const attempt = this.strikes + 1;
    // The timer cannot await: the restart's errors are handled inside it.
    const timer = setTimeout(
      () =>
        void (async () => {
          this.timers.delete(timer);
          const t0 = performance.now();
          try {
            const { worker, withdraw } = await startWorker(this.init, this.opts.workerUrl);
            if (this.closed) {
              await worker.terminate();
              return;
            }
            this.workers[index] = this.wrap(worker, withdraw);
            this.hooks.onWorkerRestarted?.({ worker: index, attempt, ms: Math.round(performance.now() - t0) });
            const waiters = this.waiters;
            this.waiters = [];
            for (const w of waiters) w.resolve();
          } catch (err) {
            if (this.closed) return;
            this.strikes++;
            const down = this.strikes > this.opts.maxRestarts;
            this.hooks.onRestartFailed?.({
              worker: index,
              attempt,
              message: (err as Error).message,
              retryInMs: down ? 0 : restartDelayMs(this.strikes),
              down,
            });
            this.restart(index);
          }
        })(),
      restartDelayMs(this.strikes),
    );
    this.timers.add(timer);
  }

  private giveUp(index: number, why: string): void {
    if (this.health().up > 0) {
      // Other workers still serve: try this slot again slowly (a run finishing on them resets the strikes).
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.restart(index);
      }, restartDelayMs(Infinity));
      this.timers.add(timer);
      return;
    }
    this.down = new BackendDownError(`no inference worker is running and restarts stopped: ${why}`);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(this.down);
  }

  /** The thread of worker `index` while it is up (tests post their own messages to it). */
  thread(index: number): Worker | undefined {
    const w = this.workers[index];
    return w?.alive ? w.worker : undefined;
  }

  async run(batch: TensorBatch, signal?: AbortSignal): Promise<BackendResult> {
    for (;;) {
      if (this.closed) throw new BackendError('backend is closed');
      if (this.down) throw this.down;
      let best: InferenceWorker | undefined;
      for (const w of this.workers) if (w?.alive && (!best || w.pending.size < best.pending.size)) best = w;
      if (best) {
        // Ids stay in 1..2^31-1: they share an Int32 cell with the worker, where 0 means "none".
        const id = this.nextId;
        this.nextId = id >= 0x7fffffff ? 1 : id + 1;
        const run = best.run(id, batch, signal);
        if (!this.hooks.onRunDone) return run;
        return run.then((r) => {
          this.hooks.onRunDone?.({ ms: r.inferenceMs });
          return r;
        });
      }
      // No worker up: wait for a restart (the request's deadline still applies above).
      await new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(new BackendError('backend is closed'));
    await Promise.all(this.workers.map((w) => w?.close()));
  }
}
