// The engine: the one API of the core. Routes, benchmarks and evaluation all call rank()/score().
// The parts (tokenizer, backend, batcher, admission, metrics) are built by the composition root, src/compose.ts.
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import {
  BackendDownError,
  WorkerLostError,
  type Backend,
  type BackendInfo,
  type Calibration,
  type ModelInfo,
  type PoolHealth,
} from '../backend/contract.ts';
import type { Admission, ReliabilityMetrics } from './admission.ts';
import { CancelledError, type Batcher, type SubmitResult } from './batcher.ts';
import { ServiceError } from './errors.ts';
import type { Metrics } from './metrics.ts';
import { normalizeScores, rankOrder, type Normalize } from './scores.ts';
import { assemblePair, type EncodedPair, type TextTokenizer } from './tokenizer.ts';
import { layoutOverhead } from './pair-layout.ts';
import { planPair, queryCap, type ChunkingOptions, type PairPlan } from './truncation.ts';

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
  /**
   * softmax (default): over the request's logits; sigmoid: per logit; none: the logit itself; calibrated: P(relevant)
   * from the model's calibration.json (a validation error when the model has none).
   */
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
  /** The model's calibration (normalize "calibrated"), when it has one. */
  calibration?: Calibration;
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
async function encodeTexts(
  tokenizer: TextTokenizer,
  pairs: readonly (readonly [string, string])[],
): Promise<(readonly [number[], number[]])[]> {
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

/** What the composition root hands the engine once the model is loaded. */
export interface EngineRuntime {
  tokenizer: TextTokenizer;
  /** The backend the batcher runs on, decorators included. */
  backend: Backend;
  batcher: Batcher;
  /** The micro-batch budget in effect (MAX_BATCH_TOKENS, or the device's default). */
  maxBatchTokens: number;
  /** MAX_BATCH_MS in effect (0 on CUDA or when off). */
  maxBatchMs: number;
}

/** The engine's parts, built by the composition root (src/compose.ts). */
export interface EngineParts {
  config: Config;
  model: ModelInfo;
  metrics: Metrics;
  reliability: ReliabilityMetrics;
  /** Backpressure, deadlines and the shutdown drain (src/core/admission.ts). */
  admission: Admission;
  log?: Logger;
  /** The start-up checks that need no model session, run before the port is bound. */
  prepare?(): Promise<void>;
  /** Loads the model: tokenizer, backend (worker threads + warm-up) and the batcher on it. */
  load(): Promise<EngineRuntime>;
}

type Pairs = readonly (readonly [string, string])[];

/**
 * How a request's pairs were read: `label` names its items in errors; `oneQuery` when they all share rank()'s query.
 */
/** The model inputs of a request, in order, and where token type 1 starts in each (BERT-family layouts). */
interface ModelInputs {
  seqs: PairPlan['seqs'];
  typeStarts?: number[];
}

interface Items {
  label: string;
  oneQuery: boolean;
}

export class Engine {
  readonly model: ModelInfo;
  readonly metrics: Metrics;
  readonly reliability: ReliabilityMetrics;
  /** Backpressure, deadlines and the shutdown drain (src/core/admission.ts). */
  readonly admission: Admission;
  private readonly config: Config;
  private readonly log: Logger | undefined;
  private runtime: EngineRuntime | undefined;
  private starting: Promise<void> | undefined;

  constructor(private readonly parts: EngineParts) {
    this.config = parts.config;
    this.model = parts.model;
    this.metrics = parts.metrics;
    this.reliability = parts.reliability;
    this.admission = parts.admission;
    this.log = parts.log;
  }

  get ready(): boolean {
    return this.runtime !== undefined && !this.admission.shuttingDown && (this.workerHealth()?.up ?? 1) > 0;
  }

  /** Inference workers up, and why the pool gave up if it did (undefined for a backend without workers). */
  workerHealth(): PoolHealth | undefined {
    return this.runtime?.backend.health?.();
  }

  /** Graceful shutdown: refuse new requests, let the accepted ones finish. Resolves false if graceMs passes first. */
  drain(graceMs: number): Promise<boolean> {
    return this.admission.drain(graceMs);
  }

  /**
   * The start-up checks that need no model session, run before the port is bound: the model files, and tokenizer.json
   * loaded by the native library and used once (JSON that is not a tokenizer fails here, naming the file).
   */
  async prepare(): Promise<void> {
    await this.parts.prepare?.();
  }

  /** Loads the tokenizer and the backend (worker threads + warm-up). */
  start(): Promise<void> {
    this.starting ??= this.load();
    return this.starting;
  }

  private async load(): Promise<void> {
    const t0 = performance.now();
    this.runtime = await this.parts.load();
    const provider = this.runtime.backend.info?.provider;
    this.log?.info(
      { ...this.info(), loadMs: Math.round(performance.now() - t0) },
      `model ${this.model.name} ready on ${provider ?? 'custom backend'} (max_len ${this.model.maxLen})`,
    );
  }

  info(): EngineInfo {
    const rt = this.runtime;
    const backend = rt?.backend.info;
    const maxBatchTokens = rt?.maxBatchTokens ?? 0;
    return {
      model: this.model.name,
      modelDir: this.model.dir,
      onnxPath: this.model.onnxPath,
      maxLen: this.model.maxLen,
      calibration: this.model.calibration,
      queryMaxShare: this.config.queryMaxShare,
      maxBatchTokens,
      maxBatchMs: rt?.maxBatchMs ?? 0,
      batchTokensNow: rt?.batcher.budget() ?? maxBatchTokens,
      tokenizer: 'tokenizers',
      ready: this.ready,
      backend,
      versions: { node: process.versions.node, onnxruntime: backend?.ortVersion },
    };
  }

  /** Encodes (query, passage) pairs with the reference truncation rule. Identical texts are tokenized once. */
  async encodePairs(pairs: Pairs): Promise<EncodedPair[]> {
    const tokenizer = this.requireReady().tokenizer;
    const encoded = await encodeTexts(tokenizer, pairs);
    return encoded.map(([q, p]) => assemblePair(q, p, this.model.maxLen, this.config.queryMaxShare, tokenizer.layout));
  }

  /** Reranks passages against one query. `field` names the passages in error messages (the caller's wording). */
  async rank(
    query: string,
    passages: readonly string[],
    opts: RankOptions = {},
    field = 'passages',
  ): Promise<EngineResult> {
    if (query.trim() === '') throw new ServiceError('validation', 'query must not be empty');
    return this.admitted(
      passages.map((p) => [query, p] as const),
      opts,
      { label: field, oneQuery: true },
    );
  }

  /**
   * Scores (query, passage) pairs; each pair may become several windows when chunking is asked for. Pair texts are
   * scored as given, a blank one too (one odd pair does not refuse a batch); rank() refuses a blank query.
   */
  async score(pairs: Pairs, opts: RankOptions = {}, field = 'pairs'): Promise<EngineResult> {
    return this.admitted(pairs, opts, { label: field, oneQuery: false });
  }

  /** Counts the request in (drain) and holds it to its deadline around scoreAdmitted. */
  private async admitted(pairs: Pairs, opts: RankOptions, items: Items): Promise<EngineResult> {
    this.admission.enter();
    try {
      const deadline = this.admission.deadline(opts.signal, opts.timeoutMs);
      try {
        return await this.scoreAdmitted(pairs, { ...opts, signal: deadline.signal, timeoutMs: deadline.ms }, items);
      } catch (err) {
        if (err instanceof ServiceError && err.type === 'cancelled' && deadline.timedOut()) {
          // The client's own timeout_ms (at most REQUEST_TIMEOUT_MS) is the client's choice; the server's cap is not.
          if (opts.timeoutMs !== undefined && opts.timeoutMs <= this.config.requestTimeoutMs) {
            throw new ServiceError(
              'deadline_exceeded',
              `the request did not finish within its ${deadline.ms} ms deadline (timeout_ms); the pairs not yet scored were dropped: send a larger timeout_ms (at most REQUEST_TIMEOUT_MS=${this.config.requestTimeoutMs}) or fewer passages`,
            );
          }
          throw new ServiceError(
            'timeout',
            `the request did not finish within its ${deadline.ms} ms deadline (REQUEST_TIMEOUT_MS); the server is too busy: retry after the Retry-After seconds`,
            1,
          );
        }
        throw err;
      } finally {
        deadline.dispose();
      }
    } finally {
      this.admission.leave();
    }
  }

  private async scoreAdmitted(pairs: Pairs, opts: RankOptions, items: Items): Promise<EngineResult> {
    if (opts.normalize === 'calibrated' && !this.model.calibration)
      throw new ServiceError(
        'validation',
        `normalize "calibrated": model ${this.model.name} has no calibration (MODEL_DIR/calibration.json); fit one with \`ko-rerank calibrate --model DIR --data FILE\`, or ask for softmax, sigmoid or none`,
      );
    this.validate(pairs, opts, items);
    const { batcher, tokenizer } = this.requireReady();
    // Admitted before tokenization: concurrent requests being tokenized count against the bounds too.
    this.admission.acquire(pairs.length, opts.timeoutMs);
    let held = pairs.length;
    let scored = 0;
    try {
      const plans = await this.plan(tokenizer, pairs, opts);
      if (opts.truncate === false) this.refuseTruncation(plans, opts, items);
      const inputs = this.sequences(plans, opts, items);
      const seqs = inputs.seqs;
      this.admission.resize(held, seqs.length, opts.timeoutMs);
      held = seqs.length;
      const out = await this.submit(batcher, inputs, opts.signal);
      scored = seqs.length;
      this.metrics.queueDuration.observe(out.queueMs);
      const { logits, best } = combineWindows(plans, out.logits, items.label);
      const tokens = seqs.reduce((n, seq) => n + seq.length, 0);
      return { results: this.results(logits, best, plans, opts), tokens, sequences: seqs.length };
    } finally {
      this.admission.release(held, scored);
    }
  }

  /** The checks that need no tokenizer: item count, max_tokens_per_doc, text length and well-formed text. */
  private validate(pairs: Pairs, opts: RankOptions, items: Items): void {
    const field = items.label;
    if (pairs.length === 0) throw new ServiceError('validation', `${field} must not be empty`);
    if (pairs.length > this.config.maxPassages) {
      throw new ServiceError(
        'too_large',
        `${field} has ${pairs.length} items, more than MAX_PASSAGES=${this.config.maxPassages}`,
      );
    }
    if (opts.maxTokensPerDoc !== undefined && !(Number.isInteger(opts.maxTokensPerDoc) && opts.maxTokensPerDoc >= 1)) {
      throw new ServiceError('validation', 'max_tokens_per_doc must be an integer >= 1');
    }
    this.checkTexts(pairs, items);
  }

  /** Tokenizes the texts and plans each pair's model input(s): truncated, or windows when chunking. */
  private async plan(tokenizer: TextTokenizer, pairs: Pairs, opts: RankOptions): Promise<PairPlan[]> {
    const t0 = performance.now();
    const encoded = await encodeTexts(tokenizer, pairs);
    const planOpts = {
      maxLen: this.model.maxLen,
      queryMaxShare: this.config.queryMaxShare,
      layout: tokenizer.layout,
      maxTokensPerDoc: opts.maxTokensPerDoc,
      chunking: opts.chunking,
    };
    const plans = encoded.map(([q, p]) => planPair(q, p, planOpts));
    this.metrics.tokenizationDuration.observe(performance.now() - t0);
    return plans;
  }

  /** truncate: false refuses a request any of whose queries or passages would be cut. */
  private refuseTruncation(plans: readonly PairPlan[], opts: RankOptions, items: Items): void {
    const field = items.label;
    const longQuery = plans.findIndex((pl) => pl.queryTruncated);
    if (longQuery >= 0) {
      const cap = queryCap(
        this.model.maxLen,
        this.config.queryMaxShare,
        layoutOverhead(this.requireReady().tokenizer.layout),
      );
      const where = items.oneQuery ? 'the query' : `the query of ${field}/${longQuery}`;
      throw new ServiceError(
        'validation',
        `truncate is false and ${where} has more than ${cap} tokens (QUERY_MAX_SHARE of max_len)`,
      );
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

  /** The model inputs of all pairs, in order (MAX_CHUNKED_PAIRS bounds what chunking makes); counted in the metrics. */
  private sequences(plans: readonly PairPlan[], opts: RankOptions, items: Items): ModelInputs {
    const seqs = plans.flatMap((pl) => pl.seqs);
    // Token type ids: where type 1 starts in each input (BERT-family layouts); none when every type id is 0.
    const typeStarts = plans.some((pl) => pl.typeStart !== undefined)
      ? plans.flatMap((pl) => pl.seqs.map((s) => pl.typeStart ?? s.length))
      : undefined;
    if (opts.chunking && seqs.length > this.config.maxChunkedPairs) {
      throw new ServiceError(
        'too_large',
        `chunking makes ${seqs.length} (query, window) pairs from ${plans.length} ${items.label}, more than MAX_CHUNKED_PAIRS=${this.config.maxChunkedPairs}`,
      );
    }
    for (const seq of seqs) this.metrics.inputTokens.observe(seq.length);
    for (const pl of plans) if (pl.truncated) this.metrics.truncatedPairs.inc();
    return { seqs, typeStarts };
  }

  /** Queues the inputs on the batcher; backend failures become typed service errors. */
  private async submit(batcher: Batcher, inputs: ModelInputs, signal: AbortSignal | undefined): Promise<SubmitResult> {
    try {
      return await batcher.submit(inputs.seqs, signal, inputs.typeStarts);
    } catch (err) {
      if (err instanceof CancelledError) throw new ServiceError('cancelled', 'client went away');
      if (err instanceof BackendDownError) throw new ServiceError('not_ready', err.message);
      if (err instanceof WorkerLostError)
        throw new ServiceError(
          'backend',
          `inference failed: ${err.message}; a new worker was started, retry the request`,
        );
      if (this.admission.shuttingDown && (err as Error).message === 'batcher is closed') {
        throw new ServiceError('shutting_down', 'the server shut down before this request was scored', 1);
      }
      throw new ServiceError('backend', `inference failed: ${(err as Error).message}`);
    }
  }

  /** Normalized scores, sorted by logit and cut to topN. */
  private results(
    logits: Float32Array,
    best: readonly number[],
    plans: readonly PairPlan[],
    opts: RankOptions,
  ): ScoredItem[] {
    const scores = normalizeScores(logits, opts.normalize ?? 'softmax', this.model.calibration);
    const order = rankOrder(logits);
    const n = opts.topN === undefined ? order.length : Math.min(opts.topN, order.length);
    return order.slice(0, n).map((i) => ({
      index: i,
      logit: logits[i]!,
      score: scores[i]!,
      truncated: plans[i]!.truncated,
      chunks: plans[i]!.seqs.length,
      bestChunk: best[i]!,
    }));
  }

  /**
   * MAX_PASSAGE_CHARS and well-formed text, before any tokenization. Lone surrogates
   * (JSON allows "\ud800") are refused.
   */
  private checkTexts(pairs: Pairs, items: Items): void {
    const max = this.config.maxPassageChars;
    const field = items.label;
    const check = (text: string, what: string) => {
      if (text.length > max)
        throw new ServiceError(
          'too_large',
          `${what} has ${text.length} characters, more than MAX_PASSAGE_CHARS=${max}`,
        );
      if (!(text as string & { isWellFormed(): boolean }).isWellFormed()) {
        let at = 0;
        for (; at < text.length; at++) {
          const c = text.charCodeAt(at);
          if (c >= 0xd800 && c <= 0xdbff && at + 1 < text.length && (text.charCodeAt(at + 1) & 0xfc00) === 0xdc00) at++;
          else if (c >= 0xd800 && c <= 0xdfff) break;
        }
        throw new ServiceError(
          'validation',
          `${what} holds a lone UTF-16 surrogate at character ${at}: send well-formed Unicode text`,
        );
      }
    };
    let lastQuery: string | undefined;
    for (let i = 0; i < pairs.length; i++) {
      const [q, p] = pairs[i]!;
      if (q !== lastQuery) check(q, items.oneQuery ? 'query' : `${field}/${i} query`);
      lastQuery = q;
      check(p, `${field}/${i}`);
    }
  }

  private requireReady(): { tokenizer: TextTokenizer; batcher: Batcher } {
    if (!this.runtime) throw new ServiceError('not_ready', 'the model is still loading');
    return this.runtime;
  }

  /** Forced shutdown: fails the queued work, waits for the micro-batches running on the model, closes the backend. */
  async abort(): Promise<void> {
    this.runtime?.batcher.close();
    await this.runtime?.backend.idle?.();
    await this.runtime?.backend.close();
  }

  async close(): Promise<void> {
    this.runtime?.batcher.close();
    await this.runtime?.backend.close();
  }
}

/**
 * A passage's logit is its best window's. A non-finite logit (any window) fails the request: no order built on it can
 * be trusted, and a score of null would be a silently wrong answer.
 */
function combineWindows(
  plans: readonly PairPlan[],
  windowLogits: Float32Array,
  field: string,
): { logits: Float32Array; best: number[] } {
  const logits = new Float32Array(plans.length);
  const best = new Array<number>(plans.length).fill(0);
  const broken: number[] = [];
  let k = 0;
  plans.forEach((pl, i) => {
    let top = windowLogits[k]!;
    for (let w = 0; w < pl.seqs.length; w++) {
      const x = windowLogits[k + w]!;
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
    throw new ServiceError(
      'backend',
      `the model returned a non-finite logit for ${field} at index ${at.slice(0, 20).join(', ')}${at.length > 20 ? ', ...' : ''}`,
    );
  }
  return { logits, best };
}
