// The backend contract: what the core (batcher, engine) needs from whatever runs the model. The core imports this
// module only; src/backend/onnx.ts implements it, and decorators (split-retry.ts) wrap it.

/** One micro-batch of padded token ids, row-major. */
export interface TensorBatch {
  rows: number;
  seqLen: number;
  ids: BigInt64Array;
  mask: BigInt64Array;
  /**
   * int64 token type ids (segment ids), rows x seqLen: set for BERT-family pair layouts (0 for the query part, 1 for
   * the passage part); absent means all 0. Fed whenever the graph declares token_type_ids.
   */
  typeIds?: BigInt64Array;
  /** The id padding uses (1 for XLM-R); lets the CUDA worker pad further to a multiple of 8. */
  padId?: number;
}

export interface BackendResult {
  logits: Float32Array;
  inferenceMs: number;
  /**
   * Rows whose inference failed (their logits are meaningless): set by SplitRetryBackend, src/backend/split-retry.ts.
   */
  failed?: { rows: number[]; message: string };
}

export interface BackendInfo {
  provider: 'cuda' | 'cpu';
  /** Why CUDA was not used when DEVICE=auto fell back to CPU. */
  fallbackReason?: string;
  inputNames: string[];
  outputNames: string[];
  ortVersion: string;
  warmupMs: number;
}

/** Inference workers up, and why the pool gave up if it did. */
export interface PoolHealth {
  up: number;
  total: number;
  /** Set once the pool gave up restarting (WORKER_MAX_RESTARTS failures in a row). */
  down?: string;
}

/** What the batcher needs from a backend. */
export interface Backend {
  /** How many micro-batches may be in flight at once (pipelining included). */
  readonly slots: number;
  /** Provider, inputs and versions, for /info and the start-up log (absent for test doubles). */
  readonly info?: BackendInfo;
  /**
   * Runs one micro-batch. Aborting `signal` asks for the run back: if it has not started yet it is withdrawn and the
   * promise rejects with RunWithdrawnError (nothing ran); once started, the abort is ignored and the result comes.
   */
  run(batch: TensorBatch, signal?: AbortSignal): Promise<BackendResult>;
  close(): Promise<void>;
  /** Optional: workers up (a backend without workers to lose has none, and counts as up). */
  health?(): PoolHealth | undefined;
  /** Optional: resolves once no run is in progress (a forced shutdown waits for it before closing). */
  idle?(): Promise<void>;
}

/** What the core needs to know of the served model (src/backend/model-dir.ts reads it). */
export interface ModelInfo {
  dir: string;
  /** Model name reported in responses: the directory's base name. */
  name: string;
  onnxPath: string;
  maxLen: number;
  /** pad_token_id of config.json (1 for XLM-R). */
  padId: number;
  /** MODEL_DIR/calibration.json, when the model has one: what `normalize: "calibrated"` computes. */
  calibration?: Calibration;
}

/**
 * P(relevant | logit) = sigmoid(a * logit + b): Platt scaling fitted on held-out pairs (`ko-rerank calibrate`,
 * `ko-rerank finetune`; scripts/train/korerank_train/calibration.py writes the file).
 */
export interface Calibration {
  method: 'platt';
  a: number;
  b: number;
  /** Pairs the fit used. */
  pairs: number;
  fittedAt?: string;
}

export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendError';
  }
}

/**
 * The run failed because its worker died or hung (exit, uncaught error, watchdog): not retried in halves
 * (SplitRetryBackend), the requests that owned the run fail and a fresh worker takes the rest of the queue.
 */
export class WorkerLostError extends BackendError {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerLostError';
  }
}

/** No worker can be started any more (WORKER_MAX_RESTARTS failed in a row): /health turns 503. */
export class BackendDownError extends BackendError {
  constructor(message: string) {
    super(message);
    this.name = 'BackendDownError';
  }
}

/** The run was withdrawn before it started (its signal was aborted): the caller still owns its rows. */
export class RunWithdrawnError extends Error {
  constructor() {
    super('micro-batch withdrawn before it ran');
    this.name = 'RunWithdrawnError';
  }
}

export type LossReason = 'exit' | 'error' | 'hang';

/** What a worker pool tells the composition root about worker losses and restarts (metrics and log lines). */
export interface PoolHooks {
  /** A worker died or hung; `runs` micro-batches it held failed. A replacement is being started. */
  onWorkerLost?(e: { worker: number; reason: LossReason; message: string; runs: number }): void;
  /** A replacement worker is up. */
  onWorkerRestarted?(e: { worker: number; attempt: number; ms: number }): void;
  /** Starting a replacement failed; another try follows after `retryInMs` unless the pool gave up (`down`). */
  onRestartFailed?(e: { worker: number; attempt: number; message: string; retryInMs: number; down: boolean }): void;
  /** A micro-batch ran: `ms` the worker spent in it (its busy time; the ko_rerank_inference_busy_seconds_total counter). */
  onRunDone?(e: { ms: number }): void;
}
