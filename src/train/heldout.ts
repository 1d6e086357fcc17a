// Held-out scoring through the serving path: BM25 top-k of each query over the corpus (the eval command's first stage),
// reranked by the in-process engine (the code the server runs, on the model's ONNX file). Gives the eval command's
// metrics and the (logit, relevant?) pairs a calibration is fitted on.
import { pino } from 'pino';
import { loadConfig } from '../config.ts';
import { createEngine } from '../compose.ts';
import { BM25 } from '../eval/bm25.ts';
import { mapConcurrent, Progress, type Output } from '../eval/command.ts';
import { Corpus, formatOf, loadData, type DataFormat } from '../eval/data.ts';
import { summarize, type Summary } from '../eval/metrics.ts';

export interface HeldOutOptions {
  /** Queries to score: JSONL, CSV or TSV (the eval command's formats). */
  data: string;
  format?: DataFormat;
  queryColumn?: string;
  passageColumn?: string;
  /** Files whose passages join the corpus first (their queries are not scored); format from the extension. */
  corpus: string[];
  /** Formats of corpus files whose extension does not say (`--format` of the training data). */
  corpusFormats?: Record<string, DataFormat>;
  topK: number;
  contexts: number;
  limit?: number;
  concurrency: number;
}

export interface HeldOutResult {
  model: string;
  bm25: Summary;
  reranked: Summary;
  /** Every (query, candidate) pair scored: its logit and whether the passage is a positive of the query. */
  logits: number[];
  labels: number[];
  queries: number;
  passages: number;
  seconds: number;
}

/** The eval command's JSON names of a summary row. */
export function metricsJson(s: Summary) {
  return {
    has_right_in_contexts: s.hasRightInContexts,
    mrr: s.mrr,
    hit_at_1: s.hit1,
    hit_at_5: s.hit5,
    ndcg_at_10: s.ndcg10,
    queries: s.queries,
  };
}

/**
 * Scores the held-out queries with the model in `modelDir` (served as `ko-rerank serve` would, with `serverArgs` as
 * its settings: --model-file, --device, --intra-op-threads ...).
 */
export async function scoreHeldOut(
  modelDir: string,
  opts: HeldOutOptions,
  serverArgs: readonly string[],
  env: Record<string, string | undefined>,
  progress: Output,
): Promise<HeldOutResult> {
  const corpus = new Corpus();
  const columns = { queryColumn: opts.queryColumn, passageColumn: opts.passageColumn };
  for (const file of opts.corpus)
    loadData(file, { ...columns, corpus, format: opts.corpusFormats?.[file] ?? formatOf(file) });
  const data = loadData(opts.data, { ...columns, corpus, format: opts.format });
  const queries = opts.limit === undefined ? data.queries : data.queries.slice(0, opts.limit);
  const bm25 = new BM25(data.passages);
  const candidates = queries.map((q) => bm25.top(q.query, opts.topK));
  const relevants = queries.map((q) => q.positives);
  const depth = { depth: opts.topK, contexts: opts.contexts };

  const config = loadConfig(['--model-dir', modelDir, '--log-level', 'warn', ...serverArgs], env);
  const engine = createEngine(config, { log: pino({ level: config.logLevel }, pino.destination(2)) });
  const t0 = performance.now();
  const logits: number[] = [];
  const labels: number[] = [];
  let rankings: number[][];
  try {
    await engine.start();
    const bar = new Progress(progress, queries.length, `scoring with ${engine.model.name}`);
    try {
      const scored = await mapConcurrent(queries, opts.concurrency, async (q, i) => {
        const docs = candidates[i]!;
        const out =
          docs.length === 0
            ? { results: [] }
            : await engine.rank(
                q.query,
                docs.map((d) => data.passages[d]!),
                { normalize: 'none' },
              );
        bar.tick();
        return out.results.map((r) => ({ doc: docs[r.index]!, logit: r.logit }));
      });
      rankings = scored.map((s) => s.map((r) => r.doc));
      scored.forEach((s, i) => {
        for (const r of s) {
          logits.push(r.logit);
          labels.push(relevants[i]!.has(r.doc) ? 1 : 0);
        }
      });
    } finally {
      bar.end();
    }
  } finally {
    await engine.close();
  }
  return {
    model: engine.model.name,
    bm25: summarize(candidates, relevants, depth),
    reranked: summarize(rankings, relevants, depth),
    logits,
    labels,
    queries: queries.length,
    passages: data.passages.length,
    seconds: (performance.now() - t0) / 1000,
  };
}
