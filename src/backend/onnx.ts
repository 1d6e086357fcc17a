// The ONNX backend: a pool of worker threads, each owning one InferenceSession.
// Speaks tensors only: int64 ids/mask in, float32 logits out.
import { Worker } from 'node:worker_threads';
import type { Device } from '../config.ts';
import type { CloseMessage, FromWorker, ReadyMessage, RunMessage, WorkerInit, WorkerStart } from './protocol.ts';
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
  /** Watchdog bound of this run (ms), 0 = none. */
  boundMs: number;
  tokens: number;
}

/**
 * Watchdog bound of one run: WATCHDOG_MS per 1,000 padded tokens, times seqLen / 512 beyond 512 tokens per row
 * (attention's cost per token grows with the sequence length), never below WATCHDOG_MS; 0 disables it.
 */
export function watchdogBoundMs(watchdogMs: number, paddedTokens: number, seqLen = 0): number {
  return watchdogMs <= 0 ? 0 : Math.round(watchdogMs * Math.max(1, paddedTokens / 1000) * Math.max(1, seqLen / 512));
}

class InferenceWorker {
  /** Runs posted and not answered, in the order the worker runs them (one at a time). */
  readonly pending = new Map<number, Pending>();
  private dead: Error | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  /** A run has finished on this worker since it started. */
  proven = false;

  constructor(
    readonly worker: Worker,
    /** Shared with the worker: the id of a queued run to withdraw (WorkerStart.withdraw). */
    private readonly withdraw: Int32Array,
    private readonly watchdogMs: number,
    private readonly onLost: (w: InferenceWorker, reason: LossReason, message: string, runs: number) => void,
    private readonly onRun: () => void,
  ) {
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'result' || msg.type === 'run-error' || msg.type === 'withdrawn') {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        this.arm();
        if (msg.type === 'withdrawn') return p.reject(new RunWithdrawnError());
        this.proven = true;
        this.onRun();
        if (msg.type === 'result') p.resolve({ logits: new Float32Array(msg.logits), inferenceMs: msg.inferenceMs });
        else p.reject(new BackendError(msg.message));
      }
    });
    worker.on('error', (err) => this.lose('error', `inference worker crashed: ${err.message}`));
    worker.on('exit', (code) => this.lose('exit', `inference worker exited with code ${code}`));
  }

  get alive(): boolean {
    return this.dead === undefined;
  }

  /** (Re)starts the watchdog for the run at the head of the queue: the one the worker is running now. */
  private arm(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = undefined;
    const head = this.pending.values().next();
    if (head.done || head.value.boundMs === 0) return;
    const { boundMs, tokens } = head.value;
    this.watchdog = setTimeout(() => {
      this.lose(
        'hang',
        `inference worker hung: a session.run of ${tokens} padded tokens took longer than ${boundMs} ms (WATCHDOG_MS)`,
      );
      // A thread stuck in native code only ends when the call returns; the replacement does not wait for it.
      void this.worker.terminate().catch(() => {});
    }, boundMs);
    this.watchdog.unref();
  }

  /** The worker is gone (or given up on): its runs fail, the pool replaces it. Only the first call counts. */
  private lose(reason: LossReason, message: string): void {
    if (this.dead) return;
    const err = new WorkerLostError(message);
    this.dead = err;
    if (this.watchdog) clearTimeout(this.watchdog);
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
      const tokens = batch.rows * batch.seqLen;
      this.pending.set(id, {
        resolve,
        reject,
        boundMs: watchdogBoundMs(this.watchdogMs, tokens, batch.seqLen),
        tokens,
      });
      if (this.pending.size === 1) this.arm();
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
    if (this.watchdog) clearTimeout(this.watchdog);
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
      this.opts.watchdogMs,
      (w, reason, message, runs) => this.lost(w, reason, message, runs),
      () => (this.strikes = 0),
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
        return best.run(id, batch, signal);
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
