// `ko-rerank eval`: the RAG retrieval table of ko-reranker's model card on your data. BM25 top-k first stage, then the reranker
// (in-process engine or a running server at --url) reorders those k; metrics with and without the reranker.
import { ConfigError, loadConfig } from '../config.ts';
import { BM25, type TermMode } from './bm25.ts';
import { Corpus, DataError, formatOf, loadData, type DataFormat, type EvalData } from './data.ts';
import { hitAt, summarize, type Summary } from './metrics.ts';
import { EngineReranker, HttpReranker, type Reranker } from './rerankers.ts';

export const EVAL_USAGE = `usage: ko-rerank eval --data FILE [options] [server settings]

Scores BM25 alone and BM25 + reranker on FILE; prints the table of ko-reranker's model card (stdout).

  --data FILE            JSONL {"query","pos":[...],"neg":[...]} (one query a line; "neg" and "id" optional),
                         or CSV/TSV with a header row, one (query, ground-truth passage) pair a row
  --format F             jsonl | csv | tsv (default: from the extension; .csv, .tsv, else jsonl)
  --query-column NAME    CSV: the query column (default "query")
  --passage-column NAME  CSV: the ground-truth passage column (default "passage")
  --corpus FILE          a JSONL/CSV file whose passages all join the corpus first (its queries are not evaluated)
  --url URL              rerank through a running ko-rerank (POST URL/rerank) instead of in-process
  --top-k N              BM25 candidates the reranker reorders; MRR@N (default 20)
  --contexts N           contexts a RAG prompt gets: has-right-in-contexts = hit@N (default 3)
  --terms T              BM25 terms: bigrams (character bigrams in each word, default) | words
  --limit N              evaluate the first N queries only
  --concurrency N        queries reranked at once (default 8)
  --no-rerank            BM25 only
  --json                 print the result as JSON instead of the table
  -h, --help             this text

Server settings (in-process mode only) take the serve flags or env vars, e.g. --model-dir, --model-file,
--device, --intra-op-threads, --workers, --max-batch-tokens, --log-level (default warn here); see docs/configuration.md.`;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface EvalOptions {
  data: string;
  format?: DataFormat;
  queryColumn?: string;
  passageColumn?: string;
  corpus?: string;
  url?: string;
  topK: number;
  contexts: number;
  terms: TermMode;
  limit?: number;
  concurrency: number;
  rerank: boolean;
  json: boolean;
  help: boolean;
  /** Flags left for loadConfig (server settings for the in-process engine). */
  configArgs: string[];
}

const VALUE_FLAGS = new Set([
  '--data',
  '--format',
  '--query-column',
  '--passage-column',
  '--corpus',
  '--url',
  '--top-k',
  '--contexts',
  '--terms',
  '--limit',
  '--concurrency',
]);

function positiveInt(flag: string, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1)
    throw new UsageError(`${flag} expects a positive integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

export function parseEvalArgs(argv: readonly string[]): EvalOptions {
  const values = new Map<string, string>();
  const opts: EvalOptions = {
    data: '',
    topK: 20,
    contexts: 3,
    terms: 'bigrams',
    concurrency: 8,
    rerank: true,
    json: false,
    help: false,
    configArgs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') opts.help = true;
    else if (arg === '--json') opts.json = true;
    else if (arg === '--no-rerank') opts.rerank = false;
    else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(0, eq) : arg;
      if (VALUE_FLAGS.has(name)) {
        const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
        if (value === undefined) throw new UsageError(`${name} needs a value`);
        values.set(name, value);
      } else {
        // A server setting: loadConfig validates it (and rejects unknown flags).
        opts.configArgs.push(arg);
        if (eq < 0 && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) opts.configArgs.push(argv[++i]!);
      }
    } else throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
  }
  if (opts.help) return opts;
  const data = values.get('--data');
  if (!data) throw new UsageError('--data FILE is required');
  opts.data = data;
  const format = values.get('--format');
  if (format !== undefined) {
    if (format !== 'jsonl' && format !== 'csv' && format !== 'tsv')
      throw new UsageError(`--format expects jsonl, csv or tsv, got ${JSON.stringify(format)}`);
    opts.format = format;
  }
  opts.queryColumn = values.get('--query-column');
  opts.passageColumn = values.get('--passage-column');
  opts.corpus = values.get('--corpus');
  const url = values.get('--url');
  if (url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--url expects an http(s) URL, got ${JSON.stringify(url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new UsageError(`--url expects an http(s) URL, got ${JSON.stringify(url)}`);
    opts.url = url;
  }
  const int = (flag: string) => {
    const raw = values.get(flag);
    return raw === undefined ? undefined : positiveInt(flag, raw);
  };
  opts.topK = int('--top-k') ?? opts.topK;
  opts.contexts = int('--contexts') ?? opts.contexts;
  opts.limit = int('--limit');
  opts.concurrency = int('--concurrency') ?? opts.concurrency;
  const terms = values.get('--terms');
  if (terms !== undefined) {
    if (terms !== 'bigrams' && terms !== 'words')
      throw new UsageError(`--terms expects bigrams or words, got ${JSON.stringify(terms)}`);
    opts.terms = terms;
  }
  if (opts.contexts > opts.topK)
    throw new UsageError(`--contexts (${opts.contexts}) must not exceed --top-k (${opts.topK})`);
  return opts;
}

export interface Row extends Summary {
  name: string;
  seconds: number;
}

export interface EvalReport {
  data: string;
  format: DataFormat;
  corpus: { passages: number; file?: string };
  queries: number;
  skipped: { no_positive: number; empty_query: number; over_limit: number };
  /**
   * recall_at_top_k: share of queries with a positive among BM25's top-k, the most the
   * reranker can reach in any metric.
   */
  first_stage: {
    method: 'bm25';
    terms: TermMode;
    top_k: number;
    recall_at_top_k: number;
    index_seconds: number;
    search_seconds: number;
  };
  contexts: number;
  reranker: { model: string; where: string; load_seconds: number; rerank_seconds: number } | null;
  rows: Row[];
}

/** Something with write(); isTTY and columns as on a tty.WriteStream. */
export interface Output {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface EvalIO {
  stdout: Output;
  stderr: Output;
}

/** A one-line progress bar on a TTY; silent elsewhere (CI logs, pipes, files). */
export class Progress {
  private done = 0;
  private last = 0;
  private readonly t0 = performance.now();
  private readonly on: boolean;

  constructor(
    private readonly out: Output,
    private readonly total: number,
    private readonly label: string,
  ) {
    this.on = out.isTTY === true && total > 0;
  }

  tick(): void {
    this.done++;
    if (!this.on) return;
    const now = performance.now();
    if (now - this.last < 100 && this.done < this.total) return;
    this.last = now;
    const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - this.label.length - 40));
    const filled = Math.round((width * this.done) / this.total);
    const secs = (now - this.t0) / 1000;
    const rate = secs > 0 ? this.done / secs : 0;
    const eta = rate > 0 ? (this.total - this.done) / rate : 0;
    this.out.write(
      `\r${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.done}/${this.total} ${rate.toFixed(1)} q/s eta ${eta.toFixed(0)}s`,
    );
  }

  end(): void {
    if (this.on) this.out.write('\r\x1b[K');
  }
}

/** Runs fn over items with at most `concurrency` in flight; results in input order; the first error stops new work. */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return out;
}

const seconds = (t0: number) => (performance.now() - t0) / 1000;
const round = (x: number, digits: number) => Number(x.toFixed(digits));

function loadAll(opts: EvalOptions): EvalData {
  const corpus = new Corpus();
  const columns = { queryColumn: opts.queryColumn, passageColumn: opts.passageColumn };
  if (opts.corpus) loadData(opts.corpus, { ...columns, corpus, format: formatOf(opts.corpus) });
  return loadData(opts.data, { ...columns, corpus, format: opts.format });
}

/** The whole evaluation; `reranker` undefined = BM25 only. */
export async function evaluate(
  opts: EvalOptions,
  reranker: Reranker | undefined,
  progress: Output = { write: () => true },
): Promise<EvalReport> {
  const data = loadAll(opts);
  const queries = opts.limit === undefined ? data.queries : data.queries.slice(0, opts.limit);
  const relevants = queries.map((q) => q.positives);

  let t0 = performance.now();
  const bm25 = new BM25(data.passages, { terms: opts.terms });
  const indexSeconds = seconds(t0);
  t0 = performance.now();
  const candidates = queries.map((q) => bm25.top(q.query, opts.topK));
  const searchSeconds = seconds(t0);
  const bm25Seconds = indexSeconds + searchSeconds;
  const recall =
    queries.length === 0
      ? 0
      : candidates.reduce((sum, c, i) => sum + hitAt(c, relevants[i]!, opts.topK), 0) / queries.length;

  const depth = { depth: opts.topK, contexts: opts.contexts };
  const rows: Row[] = [
    { name: 'without reranker', ...summarize(candidates, relevants, depth), seconds: round(bm25Seconds, 3) },
  ];
  let rerankerReport: EvalReport['reranker'] = null;
  if (reranker) {
    t0 = performance.now();
    await reranker.start();
    const loadSeconds = seconds(t0);
    t0 = performance.now();
    const bar = new Progress(progress, queries.length, 'reranking');
    let reranked: number[][];
    try {
      reranked = await mapConcurrent(queries, opts.concurrency, async (q, i) => {
        const docs = candidates[i]!;
        const order =
          docs.length === 0
            ? []
            : await reranker.rank(
                q.query,
                docs.map((d) => data.passages[d]!),
              );
        bar.tick();
        return order.map((j) => docs[j]!);
      });
    } finally {
      bar.end();
    }
    const rerankSeconds = seconds(t0);
    rows.push({
      name: `with reranker (${reranker.model})`,
      ...summarize(reranked, relevants, depth),
      seconds: round(bm25Seconds + rerankSeconds, 3),
    });
    rerankerReport = {
      model: reranker.model,
      where: reranker.where,
      load_seconds: round(loadSeconds, 3),
      rerank_seconds: round(rerankSeconds, 3),
    };
  }
  return {
    data: opts.data,
    format: opts.format ?? formatOf(opts.data),
    corpus: { passages: data.passages.length, ...(opts.corpus ? { file: opts.corpus } : {}) },
    queries: queries.length,
    skipped: {
      no_positive: data.skipped.noPositive,
      empty_query: data.skipped.emptyQuery,
      over_limit: data.queries.length - queries.length,
    },
    first_stage: {
      method: 'bm25',
      terms: opts.terms,
      top_k: opts.topK,
      recall_at_top_k: recall,
      index_seconds: round(indexSeconds, 3),
      search_seconds: round(searchSeconds, 3),
    },
    contexts: opts.contexts,
    reranker: rerankerReport,
    rows,
  };
}

/** The report as JSON: metric names spelled out, k values in first_stage.top_k and contexts. */
export function reportJson(r: EvalReport): string {
  const rows = r.rows.map((row) => ({
    name: row.name,
    has_right_in_contexts: row.hasRightInContexts,
    mrr: row.mrr,
    hit_at_1: row.hit1,
    hit_at_5: row.hit5,
    ndcg_at_10: row.ndcg10,
    queries: row.queries,
    seconds: row.seconds,
  }));
  return JSON.stringify({ ...r, rows }, null, 2);
}

/** The report as the table of ko-reranker's model card (Markdown), with a header naming the data, the first stage and the reranker. */
export function reportTable(r: EvalReport): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const skipped = [
    r.skipped.no_positive ? `${n(r.skipped.no_positive)} skipped: no positive` : '',
    r.skipped.empty_query ? `${n(r.skipped.empty_query)} skipped: empty query` : '',
    r.skipped.over_limit ? `${n(r.skipped.over_limit)} over --limit` : '',
  ].filter(Boolean);
  const fs = r.first_stage;
  const lines = [
    `data: ${r.data} — ${n(r.queries)} queries${skipped.length ? ` (${skipped.join(', ')})` : ''}, ${n(r.corpus.passages)} passages${r.corpus.file ? ` (corpus from ${r.corpus.file})` : ''}`,
    `first stage: BM25 top-${fs.top_k} over ${fs.terms === 'words' ? 'whitespace words' : 'character bigrams'}, recall@${fs.top_k} ${fs.recall_at_top_k.toFixed(3)} (index ${fs.index_seconds.toFixed(2)} s, search ${fs.search_seconds.toFixed(2)} s)`,
  ];
  if (r.reranker) {
    lines.push(
      `reranker: ${r.reranker.model} at ${r.reranker.where} (load ${r.reranker.load_seconds.toFixed(2)} s, rerank ${r.reranker.rerank_seconds.toFixed(2)} s)`,
    );
  }
  lines.push(
    '',
    `| | has-right-in-contexts (hit@${r.contexts}) | MRR@${fs.top_k} | hit@1 | hit@5 | nDCG@10 | queries | seconds |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const row of r.rows) {
    const m = [row.hasRightInContexts, row.mrr, row.hit1, row.hit5, row.ndcg10].map((x) => x.toFixed(3));
    lines.push(`| ${row.name} | ${m.join(' | ')} | ${n(row.queries)} | ${row.seconds.toFixed(1)} |`);
  }
  return lines.join('\n');
}

/** The command: returns the exit status (0 ok, 1 failure, 2 usage). */
export async function runEval(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  io: EvalIO = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let opts: EvalOptions;
  let reranker: Reranker | undefined;
  try {
    opts = parseEvalArgs(argv);
    if (opts.help) {
      io.stdout.write(`${EVAL_USAGE}\n`);
      return 0;
    }
    // Validated in every mode, so a mistyped flag is never silently ignored.
    const config = loadConfig(opts.configArgs, env);
    if (opts.url && opts.configArgs.length > 0) {
      throw new UsageError(
        `server settings (${opts.configArgs.filter((a) => a.startsWith('--')).join(' ')}) apply in-process only, not with --url`,
      );
    }
    if (opts.rerank && opts.url) reranker = new HttpReranker(opts.url);
    else if (opts.rerank) {
      const quiet =
        env.LOG_LEVEL === undefined &&
        !opts.configArgs.some((a) => a === '--log-level' || a.startsWith('--log-level='));
      if (opts.topK > config.maxPassages)
        throw new UsageError(`--top-k ${opts.topK} is above MAX_PASSAGES=${config.maxPassages}`);
      reranker = new EngineReranker(quiet ? { ...config, logLevel: 'warn' } : config);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.stderr.write(`ko-rerank eval: ${err.message}\n${EVAL_USAGE}\n`);
      return 2;
    }
    io.stderr.write(`ko-rerank eval: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const report = await evaluate(opts, reranker, io.stderr);
    io.stdout.write(`${opts.json ? reportJson(report) : reportTable(report)}\n`);
    return 0;
  } catch (err) {
    const message = err instanceof DataError ? err.message : (err as Error).message;
    io.stderr.write(`ko-rerank eval: ${message}\n`);
    return 1;
  } finally {
    await reranker?.close();
  }
}
