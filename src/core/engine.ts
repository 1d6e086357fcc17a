// The engine: the one API of the core. Routes, benchmarks and evaluation all call rank()/score().
import type { Logger } from 'pino';
import { maxBatchTokensFor, type Config } from '../config.ts';
import { BackendDownError, OnnxBackend, WorkerLostError, type Backend, type BackendInfo, type PoolHealth, type PoolHooks } from '../backend/onnx.ts';
import type { FaultKind } from '../backend/protocol.ts';
import { checkModel } from '../backend/model-check.ts';
import { ModelDirError, readModelDir, type ModelDir } from '../backend/model-dir.ts';
import { SplitRetryBackend } from '../backend/split-retry.ts';
import { Admission, ReliabilityMetrics } from './admission.ts';
import { Batcher, CancelledError } from './batcher.ts';
import { ServiceError } from './errors.ts';
import { Metrics } from './metrics.ts';
import { normalizeScores, rankOrder, type Normalize } from './scores.ts';
import { assemblePair, loadTokenizer, type EncodedPair, type TextTokenizer } from './tokenizer.ts';
import { planPair, type ChunkingOptions } from './truncation.ts';

export type { Normalize } from './scores.ts';
export type { ChunkingOptions } from './truncation.ts';

export interface ScoredItem {
  /** Position of the passage (or pair) in the request. */
  index: number;
  /** Raw model logit (fp32). */
  logit: number;
  /** The logit normalized as asked (default: softmax over all of the request's logits). */
  score: number;
  /** Some of the passage's tokens were not scored (cut to fit max_len / max_tokens_per_doc, or past the last chunk). */
  truncated: boolean;
  /** Windows scored for this passage (1 unless it was chunked). */
  chunks: number;
  /** Window whose logit is the passage's (the max), 0-based. */
  bestChunk: number;
}

export interface EngineResult {
  /** Sorted by logit, highest first, cut to topN. */
  results: ScoredItem[];
  /** Tokens fed to the model (sum of the encoded pair lengths, no padding). */
  tokens: number;
  /** Model inputs scored: one per pair, more when chunking split passages. */
  sequences: number;
}

export interface RankOptions {
  topN?: number;
  signal?: AbortSignal;
  /** Deadline in ms, capped by REQUEST_TIMEOUT_MS (the default). */
  timeoutMs?: number;
  /** softmax (default): over the request's logits; sigmoid: per logit; none: the logit itself. */
  normalize?: Normalize;
  /** Cap on each passage's tokens, clamped to what fits with the query. */
  maxTokensPerDoc?: number;
  /** false: refuse (validation error listing the indexes) instead of cutting a passage. Default true. */
  truncate?: boolean;
  /** Split passages that do not fit into overlapping windows; a passage's logit is its best window's. */
  chunking?: ChunkingOptions;
}

export interface EngineInfo {
  model: string;
  modelDir: string;
  onnxPath: string;
  maxLen: number;
  queryMaxShare: number;
  /** The micro-batch budget in effect (MAX_BATCH_TOKENS, or the device's default once the backend is up; 0 before). */
  maxBatchTokens: number;
  /** MAX_BATCH_MS in effect (0 on CUDA or when off). */
  maxBatchMs: number;
  /** The token budget the time bound gives now (maxBatchTokens until a micro-batch has been measured). */
  batchTokensNow: number;
  tokenizer: string;
  ready: boolean;
  backend?: BackendInfo;
  versions: { node: string; onnxruntime?: string };
}

/** Token ids (no special tokens) of each pair's query and passage; identical texts are tokenized once. */
async function encodeTexts(tokenizer: TextTokenizer, pairs: readonly (readonly [string, string])[]): Promise<(readonly [number[], number[]])[]> {
  const unique = new Map<string, number>();
  const slot = (t: string) => {
    let i = unique.get(t);
    if (i === undefined) unique.set(t, (i = unique.size));
    return i;
  };
  const refs = pairs.map(([q, p]) => [slot(q), slot(p)] as const);
  const ids = await tokenizer.encodeMany([...unique.keys()]);
  return refs.map(([q, p]) => [ids[q]!, ids[p]!] as const);
}

export class Engine {
  readonly model: ModelDir;
  readonly metrics: Metrics;
  private tokenizer: TextTokenizer | undefined;
  private backend: Backend | undefined;
  private batcher: Batcher | undefined;
  private maxBatchTokens = 0;
  private maxBatchMs = 0;
  private starting: Promise<void> | undefined;
  private split: SplitRetryBackend | undefined;
  readonly reliability: ReliabilityMetrics;
  /** Backpressure, deadlines and the shutdown drain (src/core/admission.ts). */
  readonly admission: Admission;

  /** Reads the model directory at once (a bad MODEL_DIR fails start-up); start() loads the model. */
  constructor(
    private readonly config: Config,
    private readonly log?: Logger,
    metrics?: Metrics,
  ) {
    this.model = readModelDir(config.modelDir, config.modelFile);
    this.metrics = metrics ?? new Metrics();
    this.reliability = new ReliabilityMetrics(this.metrics.registry);
    this.admission = new Admission(
      { maxQueuePairs: config.maxQueuePairs, requestTimeoutMs: config.requestTimeoutMs, admitByWait: config.admitByWait },
      this.reliability,
    );
    if (config.maxBatchTokens !== 0 && config.maxBatchTokens < this.model.maxLen) {
      throw new ServiceError('validation', `invalid setting MAX_BATCH_TOKENS: ${config.maxBatchTokens} is below max_len ${this.model.maxLen}`);
    }
  }

  get ready(): boolean {
    return this.batcher !== undefined && !this.admission.shuttingDown && (this.workerHealth()?.up ?? 1) > 0;
  }

  /** Inference workers up, and why the pool gave up if it did (undefined for an injected test backend). */
  workerHealth(): PoolHealth | undefined {
    return this.backend instanceof OnnxBackend ? this.backend.health() : undefined;
  }

  /** FAULT_INJECTION only: sends a fault to an inference worker (false when none is up or injection is off). */
  injectFault(kind: FaultKind, worker = 0): boolean {
    return this.backend instanceof OnnxBackend ? this.backend.fault(kind, worker) : false;
  }

  /** Metrics and log lines for every worker loss and restart. */
  private poolHooks(): PoolHooks {
    const r = this.reliability;
    return {
      onWorkerLost: (e) => {
        r.workerRestarts.inc({ reason: e.reason });
        this.log?.error({ worker: e.worker, reason: e.reason, failedRuns: e.runs }, `${e.message}: its ${e.runs} micro-batch(es) failed; starting a new worker`);
      },
      onWorkerRestarted: (e) => this.log?.warn({ worker: e.worker, attempt: e.attempt, ms: e.ms }, `inference worker ${e.worker} restarted`),
      onRestartFailed: (e) => {
        r.restartFailures.inc();
        if (e.down) this.log?.fatal({ worker: e.worker, attempt: e.attempt, err: e.message }, `inference worker restart failed, giving up (WORKER_MAX_RESTARTS): ${e.message}`);
        else this.log?.error({ worker: e.worker, attempt: e.attempt, err: e.message, retryInMs: e.retryInMs }, `inference worker restart failed: ${e.message}`);
      },
    };
  }

  /** Graceful shutdown: refuse new requests, let the accepted ones finish. Resolves false if graceMs passes first. */
  drain(graceMs: number): Promise<boolean> {
    return this.admission.drain(graceMs);
  }

  /**
   * The start-up checks that need no model session, run before the port is bound: the model files (checkModel), and
   * tokenizer.json loaded by the native library and used once (JSON that is not a tokenizer fails here, naming the file).
   */
  async prepare(): Promise<void> {
    checkModel(this.model);
    if (this.tokenizer) return;
    try {
      const tokenizer = await loadTokenizer(this.model.dir);
      await tokenizer.encodeMany(['점검']);
      this.tokenizer = tokenizer;
    } catch (err) {
      const why = (err as Error).message.split('\n')[0]!.slice(0, 300);
      throw new ModelDirError(`${this.model.tokenizerPath} is not a tokenizer the tokenizers library can load (${why}): copy the tokenizer.json saved with this model`);
    }
  }

  /** Loads the tokenizer and the backend (worker threads + warm-up). Optionally takes a backend, for tests. */
  start(backend?: Backend): Promise<void> {
    this.starting ??= this.doStart(backend);
    return this.starting;
  }

  private async doStart(injected?: Backend): Promise<void> {
    const t0 = performance.now();
    this.tokenizer ??= await loadTokenizer(this.model.dir);
    const backend =
      injected ??
      (await OnnxBackend.start({
        onnxPath: this.model.onnxPath,
        device: this.config.device,
        intraOpThreads: this.config.intraOpThreads,
        spinning: this.config.intraOpSpinning,
        cudaDeviceId: this.config.cudaDeviceId,
        workers: this.config.workers,
        watchdogMs: this.config.watchdogMs,
        maxRestarts: this.config.workerMaxRestarts,
        faultInjection: this.config.faultInjection,
      }, this.poolHooks()));
    this.backend = backend;
    const info = backend.info;
    if (info?.fallbackReason) {
      this.log?.warn({ reason: info.fallbackReason }, `DEVICE=auto: serving on CPU, CUDA is not available: ${info.fallbackReason}`);
    }
    const m = this.metrics;
    const r = this.reliability;
    this.split = new SplitRetryBackend(backend, {
        onSplit: (rows, err) => {
          r.splits.inc();
          this.log?.warn({ rows, err: err.message }, 'micro-batch run failed: split in halves and retried');
        },
        onRowFailed: () => r.failedPairs.inc(),
    });
    this.maxBatchTokens = maxBatchTokensFor(this.config, info?.provider ?? 'cpu', this.model.maxLen);
    this.maxBatchMs = (info?.provider ?? 'cpu') === 'cpu' ? this.config.maxBatchMs : 0;
    this.batcher = new Batcher(
      this.split,
      {
        maxBatchTokens: this.maxBatchTokens,
        maxBatchMs: this.maxBatchMs,
        minBatchTokens: Math.min(this.model.maxLen, this.maxBatchTokens),
        maxBatchSize: this.config.maxBatchSize,
        maxWaitMs: this.config.maxWaitMs,
        padId: this.model.padId,
        fair: this.config.fairBatching,
      },
      {
        onBatch: (s) => {
          m.batchSize.observe(s.rows);
          m.batchTokens.observe(s.paddedTokens);
          m.batchRealTokens.inc(s.realTokens);
          m.paddingRatio.observe(s.paddedTokens === 0 ? 0 : 1 - s.realTokens / s.paddedTokens);
          m.inferenceDuration.observe(s.inferenceMs);
        },
        onQueueSize: (n) => m.queueSize.set(n),
        onWithdrawn: () => m.batchesWithdrawn.inc(),
        onDropped: (n, reason) => r.droppedPairs.inc({ reason: (reason as Error | undefined)?.name === 'TimeoutError' ? 'timeout' : 'disconnect' }, n),
      },
    );
    this.log?.info(
      { ...this.info(), loadMs: Math.round(performance.now() - t0) },
      `model ${this.model.name} ready on ${info?.provider ?? 'custom backend'} (max_len ${this.model.maxLen})`,
    );
  }

  info(): EngineInfo {
    const backend = this.backend?.info;
    return {
      model: this.model.name,
      modelDir: this.model.dir,
      onnxPath: this.model.onnxPath,
      maxLen: this.model.maxLen,
      queryMaxShare: this.config.queryMaxShare,
      maxBatchTokens: this.maxBatchTokens,
      maxBatchMs: this.maxBatchMs,
      batchTokensNow: this.batcher?.budget() ?? this.maxBatchTokens,
      tokenizer: 'tokenizers',
      ready: this.ready,
      backend,
      versions: { node: process.versions.node, onnxruntime: backend?.ortVersion },
    };
  }

  /** Encodes (query, passage) pairs with the reference truncation rule. Identical texts are tokenized once. */
  async encodePairs(pairs: readonly (readonly [string, string])[]): Promise<EncodedPair[]> {
    const tokenizer = this.requireReady().tokenizer;
    const encoded = await encodeTexts(tokenizer, pairs);
    return encoded.map(([q, p]) => assemblePair(q, p, this.model.maxLen, this.config.queryMaxShare, tokenizer.special));
  }

  /** Reranks passages against one query. */
  async rank(query: string, passages: readonly string[], opts: RankOptions = {}, field = 'passages'): Promise<EngineResult> {
    if (query.trim() === '') throw new ServiceError('validation', 'query must not be empty');
    return this.score(
      passages.map((p) => [query, p] as const),
      opts,
      field,
    );
  }

  /**
   * Scores (query, passage) pairs; each pair may become several windows when chunking is asked for. Pair texts are
   * scored as given, a blank one too (one odd pair does not refuse a batch); rank() refuses a blank query.
   */
  async score(pairs: readonly (readonly [string, string])[], opts: RankOptions = {}, field = 'pairs'): Promise<EngineResult> {
    this.admission.enter();
    try {
      const deadline = this.admission.deadline(opts.signal, opts.timeoutMs);
      try {
        return await this.scoreAdmitted(pairs, { ...opts, signal: deadline.signal, timeoutMs: deadline.ms }, field);
      } catch (err) {
        if (err instanceof ServiceError && err.type === 'cancelled' && deadline.timedOut()) {
          // The client's own timeout_ms (at most REQUEST_TIMEOUT_MS) is the client's choice; the server's cap is not.
          if (opts.timeoutMs !== undefined && opts.timeoutMs <= this.config.requestTimeoutMs) {
            throw new ServiceError(
              'timeout',
              `the request did not finish within its ${deadline.ms} ms deadline (timeout_ms); the pairs not yet scored were dropped: send a larger timeout_ms (at most REQUEST_TIMEOUT_MS=${this.config.requestTimeoutMs}) or fewer passages`,
              undefined,
              true,
            );
          }
          throw new ServiceError('timeout', `the request did not finish within its ${deadline.ms} ms deadline (REQUEST_TIMEOUT_MS); the server is too busy: retry after the Retry-After seconds`, 1);
        }
        throw err;
      } finally {
        deadline.dispose();
      }
    } finally {
      this.admission.leave();
    }
  }

  private async scoreAdmitted(pairs: readonly (readonly [string, string])[], opts: RankOptions, field: string): Promise<EngineResult> {
    if (pairs.length === 0) throw new ServiceError('validation', `${field} must not be empty`);
    if (pairs.length > this.config.maxPassages) {
      throw new ServiceError('too_large', `${field} has ${pairs.length} items, more than MAX_PASSAGES=${this.config.maxPassages}`);
    }
    if (opts.maxTokensPerDoc !== undefined && !(Number.isInteger(opts.maxTokensPerDoc) && opts.maxTokensPerDoc >= 1)) {
      throw new ServiceError('validation', 'max_tokens_per_doc must be an integer >= 1');
    }
    this.checkTexts(pairs, field);
    const { batcher, tokenizer } = this.requireReady();
    // Admitted before tokenization: concurrent requests being tokenized count against the bounds too.
    this.admission.acquire(pairs.length, opts.timeoutMs);
    let held = pairs.length;
    let scored = 0;
    try {
      const t0 = performance.now();
      const encoded = await encodeTexts(tokenizer, pairs);
      const planOpts = {
        maxLen: this.model.maxLen,
        queryMaxShare: this.config.queryMaxShare,
        special: tokenizer.special,
        maxTokensPerDoc: opts.maxTokensPerDoc,
        chunking: opts.chunking,
      };
      const plans = encoded.map(([q, p]) => planPair(q, p, planOpts));
      this.metrics.tokenizationDuration.observe(performance.now() - t0);
      if (opts.truncate === false) {
        const longQuery = plans.findIndex((pl) => pl.queryTruncated);
        if (longQuery >= 0) {
          const cap = Math.min(Math.floor(this.model.maxLen * this.config.queryMaxShare), this.model.maxLen - 4);
          const where = field === 'passages' || field === 'documents' || field === 'texts' ? 'the query' : `the query of ${field}/${longQuery}`;
          throw new ServiceError('validation', `truncate is false and ${where} has more than ${cap} tokens (QUERY_MAX_SHARE of max_len)`);
        }
        const cut = plans.flatMap((pl, i) => (pl.truncated ? [i] : []));
        if (cut.length > 0) {
          const shown = cut.length > 20 ? `${cut.slice(0, 20).join(', ')}, ... (${cut.length} in all)` : cut.join(', ');
          const room = Math.min(...cut.map((i) => plans[i]!.window));
          const how = opts.chunking ? ` in ${opts.chunking.maxChunksPerDoc} chunks of` : '';
          throw new ServiceError(
            'validation',
            `truncate is false and ${field} at index ${shown} do not fit${how} max_len with the query (as few as ${room} passage tokens fit)`,
          );
        }
      }
      const seqs = plans.flatMap((pl) => pl.seqs);
      if (opts.chunking && seqs.length > this.config.maxChunkedPairs) {
        throw new ServiceError(
          'too_large',
          `chunking makes ${seqs.length} (query, window) pairs from ${pairs.length} ${field}, more than MAX_CHUNKED_PAIRS=${this.config.maxChunkedPairs}`,
        );
      }
      let tokens = 0;
      for (const seq of seqs) {
        tokens += seq.length;
        this.metrics.inputTokens.observe(seq.length);
      }
      for (const pl of plans) if (pl.truncated) this.metrics.truncatedPairs.inc();
      this.admission.resize(held, seqs.length, opts.timeoutMs);
      held = seqs.length;
      let out;
      try {
        out = await batcher.submit(seqs, opts.signal);
        scored = seqs.length;
      } catch (err) {
        if (err instanceof CancelledError) throw new ServiceError('cancelled', 'client went away');
        if (err instanceof BackendDownError) throw new ServiceError('not_ready', err.message);
        if (err instanceof WorkerLostError) throw new ServiceError('backend', `inference failed: ${err.message}; a new worker was started, retry the request`);
        if (this.admission.shuttingDown && (err as Error).message === 'batcher is closed') {
          throw new ServiceError('shutting_down', 'the server shut down before this request was scored', 1);
        }
        throw new ServiceError('backend', `inference failed: ${(err as Error).message}`);
      }
      this.metrics.queueDuration.observe(out.queueMs);
      // A passage's logit is its best window's. A non-finite logit (any window) fails the request: no order built on
      // it can be trusted, and a score of null would be a silently wrong answer.
      const logits = new Float32Array(pairs.length);
      const best = new Array<number>(pairs.length).fill(0);
      const broken: number[] = [];
      let k = 0;
      plans.forEach((pl, i) => {
        let top = out.logits[k]!;
        for (let w = 0; w < pl.seqs.length; w++) {
          const x = out.logits[k + w]!;
          if (!Number.isFinite(x)) broken.push(i);
          if (x > top) {
            top = x;
            best[i] = w;
          }
        }
        k += pl.seqs.length;
        logits[i] = top;
      });
      if (broken.length > 0) {
        const at = [...new Set(broken)];
        throw new ServiceError('backend', `the model returned a non-finite logit for ${field} at index ${at.slice(0, 20).join(', ')}${at.length > 20 ? ', ...' : ''}`);
      }
      const scores = normalizeScores(logits, opts.normalize ?? 'softmax');
      const order = rankOrder(logits);
      const n = opts.topN === undefined ? order.length : Math.min(opts.topN, order.length);
      const results = order.slice(0, n).map((i) => ({
        index: i,
        logit: logits[i]!,
        score: scores[i]!,
        truncated: plans[i]!.truncated,
        chunks: plans[i]!.seqs.length,
        bestChunk: best[i]!,
      }));
      return { results, tokens, sequences: seqs.length };
    } finally {
      this.admission.release(held, scored);
    }
  }

  /** MAX_PASSAGE_CHARS and well-formed text, before any tokenization. Lone surrogates (JSON allows "\ud800") are refused. */
  private checkTexts(pairs: readonly (readonly [string, string])[], field: string): void {
    const max = this.config.maxPassageChars;
    const single = field === 'passages' || field === 'documents' || field === 'texts';
    const check = (text: string, what: string) => {
      if (text.length > max) throw new ServiceError('too_large', `${what} has ${text.length} characters, more than MAX_PASSAGE_CHARS=${max}`);
      if (!(text as string & { isWellFormed(): boolean }).isWellFormed()) {
        let at = 0;
        for (; at < text.length; at++) {
          const c = text.charCodeAt(at);
          if (c >= 0xd800 && c <= 0xdbff && at + 1 < text.length && (text.charCodeAt(at + 1) & 0xfc00) === 0xdc00) at++;
          else if (c >= 0xd800 && c <= 0xdfff) break;
        }
        throw new ServiceError('validation', `${what} holds a lone UTF-16 surrogate at character ${at}: send well-formed Unicode text`);
      }
    };
    let lastQuery: string | undefined;
    for (let i = 0; i < pairs.length; i++) {
      const [q, p] = pairs[i]!;
      if (q !== lastQuery) check(q, single ? 'query' : `${field}/${i} query`);
      lastQuery = q;
      check(p, `${field}/${i}`);
    }
  }

  private requireReady(): { tokenizer: TextTokenizer; batcher: Batcher } {
    if (!this.tokenizer || !this.batcher) throw new ServiceError('not_ready', 'the model is still loading');
    return { tokenizer: this.tokenizer, batcher: this.batcher };
  }

  /** Forced shutdown: fails the queued work, waits for the micro-batches running on the model, closes the backend. */
  async abort(): Promise<void> {
    this.batcher?.close();
    await this.split?.idle();
    await this.backend?.close();
  }

  async close(): Promise<void> {
    this.batcher?.close();
    await this.backend?.close();
  }
}
