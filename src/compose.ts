// The composition root: builds the service's parts from the config (model directory, tokenizer, ONNX backend and its
// decorators, batcher, admission, metrics) and hands them to the engine. Nothing else constructs a backend.
import type { Logger } from 'pino';
import { maxBatchTokensFor, minBatchTokensSetting, type Config } from './config.ts';
import type { Backend, PoolHooks } from './backend/contract.ts';
import { intraOpThreadsFor } from './backend/cpu-budget.ts';
import { checkModel } from './backend/model-check.ts';
import { ModelDirError, readModelDir, type ModelDir } from './backend/model-dir.ts';
import { UnsupportedTokenizerError } from './core/pair-layout.ts';
import { OnnxBackend } from './backend/onnx.ts';
import { SplitRetryBackend } from './backend/split-retry.ts';
import { Admission, ReliabilityMetrics } from './core/admission.ts';
import { Batcher } from './core/batcher.ts';
import { Engine, type EngineRuntime } from './core/engine.ts';
import { ServiceError } from './core/errors.ts';
import { Metrics } from './core/metrics.ts';
import { loadTokenizer, type TextTokenizer } from './core/tokenizer.ts';

/** Ways in for tests, benchmarks and comparison runs: none of them is a setting. */
export interface ComposeOptions {
  log?: Logger;
  metrics?: Metrics;
  /** Serve on this backend instead of starting the ONNX worker pool (it is still wrapped in split-retry). */
  backend?: Backend;
  /** Module the ONNX worker threads run; tests pass one that also takes injected faults. */
  workerUrl?: URL;
  /** Called with the ONNX worker pool once it is up (tests reach its worker threads through it). */
  onPool?(pool: OnnxBackend): void;
  /** false: micro-batches in length order across requests, nothing withdrawn (comparison runs). Default true. */
  fairBatching?: boolean;
}

/**
 * Builds the engine from the config. Reads the model directory at once (a bad MODEL_DIR or MAX_BATCH_TOKENS fails
 * here); engine.prepare() checks the model files and the tokenizer, engine.start() loads the model.
 */
export function createEngine(config: Config, opts: ComposeOptions = {}): Engine {
  const { log } = opts;
  const model = withMaxLen(readModelDir(config.modelDir, config.modelFile), config.maxLen);
  if (config.maxBatchTokens !== 0 && config.maxBatchTokens < minBatchTokensSetting(model.maxLen)) {
    throw new ServiceError(
      'validation',
      `invalid setting MAX_BATCH_TOKENS: ${config.maxBatchTokens} is below ${minBatchTokensSetting(model.maxLen)} (one ${minBatchTokensSetting(model.maxLen)}-token pair; max_len ${model.maxLen})`,
    );
  }
  const metrics = opts.metrics ?? new Metrics();
  const reliability = new ReliabilityMetrics(metrics.registry);
  const admission = new Admission(
    {
      maxQueuePairs: config.maxQueuePairs,
      requestTimeoutMs: config.requestTimeoutMs,
      admitByWait: config.admitByWait,
      parallelRuns: config.workers,
    },
    reliability,
  );
  let tokenizer: TextTokenizer | undefined;
  const parts = { config, model, metrics, reliability, log };

  async function prepare(): Promise<void> {
    checkModel(model);
    tokenizer ??= await checkedTokenizer(model);
  }

  async function load(): Promise<EngineRuntime> {
    tokenizer ??= await loadTokenizer(model.dir);
    const backend = opts.backend ?? (await startPool(config, model, opts, poolHooks(reliability, metrics, log)));
    const info = backend.info;
    if (info?.fallbackReason) {
      log?.warn(
        { reason: info.fallbackReason },
        `DEVICE=auto: serving on CPU, CUDA is not available: ${info.fallbackReason}`,
      );
    }
    const split = new SplitRetryBackend(backend, {
      onSplit: (rows, err) => {
        reliability.splits.inc();
        log?.warn({ rows, err: err.message }, 'micro-batch run failed: split in halves and retried');
      },
      onRowFailed: () => reliability.failedPairs.inc(),
    });
    const provider = info?.provider ?? 'cpu';
    const maxBatchTokens = maxBatchTokensFor(config, provider, model.maxLen);
    const maxBatchMs = provider === 'cpu' ? config.maxBatchMs : 0;
    const batcher = new Batcher(
      split,
      {
        maxBatchTokens,
        maxBatchMs,
        minBatchTokens: Math.min(model.maxLen, maxBatchTokens),
        maxBatchSize: config.maxBatchSize,
        maxWaitMs: config.maxWaitMs,
        padId: model.padId,
        fair: opts.fairBatching ?? true,
      },
      {
        onBatch: (s) => {
          admission.observeRun(s);
          metrics.batchSize.observe(s.rows);
          metrics.batchTokens.observe(s.paddedTokens);
          metrics.batchRealTokens.inc(s.realTokens);
          metrics.paddingRatio.observe(s.paddedTokens === 0 ? 0 : 1 - s.realTokens / s.paddedTokens);
          metrics.inferenceDuration.observe(s.inferenceMs);
        },
        onQueueSize: (n) => metrics.queueSize.set(n),
        onWithdrawn: () => metrics.batchesWithdrawn.inc(),
        onDropped: (n, reason) =>
          reliability.droppedPairs.inc(
            { reason: (reason as Error | undefined)?.name === 'TimeoutError' ? 'timeout' : 'disconnect' },
            n,
          ),
      },
    );
    metrics.scaling = {
      queuePaddedTokens: () => batcher.queuedPaddedTokens(),
      predictedWaitMs: () => predictedWaitMs(admission),
      workersUp: () => backend.health?.()?.up ?? 1,
    };
    return { tokenizer, backend: split, batcher, maxBatchTokens, maxBatchMs };
  }

  return new Engine({ ...parts, admission, prepare, load });
}

/** MAX_LEN applied: 0 keeps the model's own limit; lower bounds it; higher is refused (no position embeddings there). */
export function withMaxLen(model: ModelDir, maxLen: number): ModelDir {
  if (maxLen === 0 || maxLen === model.maxLen) return model;
  if (maxLen > model.maxLen)
    throw new ServiceError(
      'validation',
      `invalid setting MAX_LEN: ${maxLen} is above the model's own limit ${model.maxLen} (config.json max_position_embeddings, tokenizer_config.json model_max_length); set it to ${model.maxLen} or less, or 0 for the model's limit`,
    );
  if (maxLen < 8) throw new ServiceError('validation', `invalid setting MAX_LEN: ${maxLen} is below 8`);
  return { ...model, maxLen };
}

/**
 * tokenizer.json loaded by the native library and used once: JSON that is not a tokenizer fails here, naming the file.
 */
async function checkedTokenizer(model: ModelDir): Promise<TextTokenizer> {
  try {
    const tokenizer = await loadTokenizer(model.dir);
    await tokenizer.encodeMany(['점검']);
    return tokenizer;
  } catch (err) {
    const why = (err as Error).message.split('\n')[0]!.slice(0, 300);
    if (err instanceof UnsupportedTokenizerError)
      throw new ModelDirError(
        `${model.tokenizerPath} cannot be served: ${why}; a cross-encoder's tokenizer.json (saved by transformers' fast tokenizer, scripts/export_onnx.py) carries its pair post-processor`,
      );
    throw new ModelDirError(
      `${model.tokenizerPath} is not a tokenizer the tokenizers library can load (${why}): copy the tokenizer.json saved with this model`,
    );
  }
}

/** The ONNX worker pool (worker threads + warm-up). */
async function startPool(
  config: Config,
  model: ModelDir,
  opts: ComposeOptions,
  hooks: PoolHooks,
): Promise<OnnxBackend> {
  const pool = await OnnxBackend.start(
    {
      onnxPath: model.onnxPath,
      device: config.device,
      intraOpThreads: intraOpThreadsFor(config.intraOpThreads, config.workers),
      spinning: config.intraOpSpinning,
      cudaDeviceId: config.cudaDeviceId,
      workers: config.workers,
      watchdogMs: config.watchdogMs,
      maxRestarts: config.workerMaxRestarts,
      workerUrl: opts.workerUrl,
    },
    hooks,
  );
  opts.onPool?.(pool);
  return pool;
}

/**
 * The wait the ko_rerank_predicted_wait_seconds gauge shows: admission's prediction for a new request of the mean size
 * of the requests admitted now (0 with none admitted; 0 before admission has measured a throughput).
 */
export function predictedWaitMs(admission: Admission): number {
  if (admission.admitted === 0 || admission.active === 0) return 0;
  return admission.predictedMs(Math.max(1, Math.round(admission.admitted / admission.active))) ?? 0;
}

/** Metrics and log lines for every worker loss and restart, and the workers' busy time. */
function poolHooks(r: ReliabilityMetrics, metrics: Metrics, log: Logger | undefined): PoolHooks {
  return {
    onRunDone: (e) => metrics.inferenceBusy.inc(e.ms / 1000),
    onWorkerLost: (e) => {
      r.workerRestarts.inc({ reason: e.reason });
      log?.error(
        { worker: e.worker, reason: e.reason, failedRuns: e.runs },
        `${e.message}: its ${e.runs} micro-batch(es) failed; starting a new worker`,
      );
    },
    onWorkerRestarted: (e) =>
      log?.warn({ worker: e.worker, attempt: e.attempt, ms: e.ms }, `inference worker ${e.worker} restarted`),
    onRestartFailed: (e) => {
      r.restartFailures.inc();
      if (e.down)
        log?.fatal(
          { worker: e.worker, attempt: e.attempt, err: e.message },
          `inference worker restart failed, giving up (WORKER_MAX_RESTARTS): ${e.message}`,
        );
      else
        log?.error(
          { worker: e.worker, attempt: e.attempt, err: e.message, retryInMs: e.retryInMs },
          `inference worker restart failed: ${e.message}`,
        );
    },
  };
}
