// The ONNX backend: a pool of worker threads, each owning one InferenceSession.
// Speaks tensors only: int64 ids/mask in, float32 logits out.
import { Worker } from 'node:worker_threads';
import type { Device } from '../config.ts';
import type { CloseMessage, FromWorker, ReadyMessage, RunMessage, WorkerInit } from './protocol.ts';
import type { SessionSettings } from './session-options.ts';
import { probeCuda } from './cuda-probe.ts';

export interface TensorBatch {
  rows: number;
  seqLen: number;
  ids: BigInt64Array;
  mask: BigInt64Array;
  /** The id padding uses (1 for XLM-R); lets the CUDA worker pad further to a multiple of 8. */
  padId?: number;
}

export interface BackendResult {
  logits: Float32Array;
  inferenceMs: number;
  /** Rows whose inference failed (their logits are meaningless): set by SplitRetryBackend, src/backend/split-retry.ts. */
  failed?: { rows: number[]; message: string };
}

/** What the batcher needs from a backend. */
export interface Backend {
  /** How many micro-batches may be in flight at once (pipelining included). */
  readonly slots: number;
  /** Provider, inputs and versions, for /info and the start-up log (absent for test doubles). */
  readonly info?: BackendInfo;
  run(batch: TensorBatch): Promise<BackendResult>;
  close(): Promise<void>;
}

export interface BackendInfo {
  provider: 'cuda' | 'cpu';
  fallbackReason?: string;
  inputNames: string[];
  outputNames: string[];
  ortVersion: string;
  warmupMs: number;
}

export interface OnnxBackendOptions extends SessionSettings {
  onnxPath: string;
  device: Device;
  workers: number;
}

/** How long close() lets a worker finish its queued runs and release its session before terminating it. */
const CLOSE_GRACE_MS = 10_000;

export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendError';
  }
}

interface Pending {
  resolve: (r: BackendResult) => void;
  reject: (e: Error) => void;
}

class InferenceWorker {
  readonly pending = new Map<number, Pending>();
  private dead: Error | undefined;
  constructor(readonly worker: Worker) {
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'result' || msg.type === 'run-error') {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.type === 'result') p.resolve({ logits: new Float32Array(msg.logits), inferenceMs: msg.inferenceMs });
        else p.reject(new BackendError(msg.message));
      }
    });
    const fail = (err: Error) => {
      this.dead = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(new BackendError(`inference worker crashed: ${err.message}`)));
    worker.on('exit', (code) => fail(new BackendError(`inference worker exited with code ${code}`)));
  }

  run(id: number, batch: TensorBatch): Promise<BackendResult> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const ids = batch.ids.buffer as ArrayBuffer;
      const mask = batch.mask.buffer as ArrayBuffer;
      const msg: RunMessage = { type: 'run', id, rows: batch.rows, seqLen: batch.seqLen, ids, mask, padId: batch.padId };
      this.worker.postMessage(msg, [ids, mask]);
    });
  }

  /** Lets the worker finish what it has, release its session and exit; terminates it if that takes too long. */
  async close(): Promise<void> {
    if (this.dead) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ type: 'close' } satisfies CloseMessage);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CLOSE_GRACE_MS)));
    if ((await Promise.race([exited, late])) === 'late') await this.worker.terminate();
    clearTimeout(timer);
  }
}

const WORKER_URL = new URL('./worker-bootstrap.mjs', import.meta.url);

function startWorker(init: WorkerInit): Promise<{ worker: Worker; ready: ReadyMessage }> {
  const worker = new Worker(WORKER_URL, { workerData: init });
  return new Promise((resolve, reject) => {
    const onMessage = (msg: FromWorker) => {
      if (msg.type === 'ready') {
        cleanup();
        resolve({ worker, ready: msg });
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

export class OnnxBackend implements Backend {
  readonly slots: number;
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly workers: InferenceWorker[],
    readonly info: BackendInfo,
  ) {
    // Two micro-batches per worker: the next one is prepared and queued in the worker while the current one runs
    // (the worker runs them one at a time).
    this.slots = workers.length * 2;
  }

  /** Starts the workers; each loads the model and does a warm-up run before this resolves. */
  static async start(opts: OnnxBackendOptions): Promise<OnnxBackend> {
    // Look before asking onnxruntime: with no CUDA here, DEVICE=auto goes straight to CPU (no onnxruntime error text
    // on the console) and DEVICE=cuda fails naming what is missing.
    let device = opts.device;
    let unavailable: string | undefined;
    if (device !== 'cpu') {
      const probe = probeCuda();
      if (!probe.ok) {
        if (device === 'cuda') throw new BackendError(`DEVICE=cuda but the CUDA execution provider cannot load: ${probe.reason}`);
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
    const started = await Promise.allSettled(Array.from({ length: opts.workers }, () => startWorker(init)));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.worker.terminate() : undefined)));
      throw failed.reason as Error;
    }
    const ok = started.map((s) => (s as PromiseFulfilledResult<{ worker: Worker; ready: ReadyMessage }>).value);
    const { type: _type, ...info } = ok[0]!.ready;
    if (unavailable) info.fallbackReason = unavailable;
    return new OnnxBackend(
      ok.map((o) => new InferenceWorker(o.worker)),
      info,
    );
  }

  run(batch: TensorBatch): Promise<BackendResult> {
    if (this.closed) return Promise.reject(new BackendError('backend is closed'));
    let best = this.workers[0]!;
    for (const w of this.workers) if (w.pending.size < best.pending.size) best = w;
    return best.run(this.nextId++, batch);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
