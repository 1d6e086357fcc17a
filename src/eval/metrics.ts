// IR metrics of ko-reranker's model card table, binary relevance: hit@k (has-right-in-contexts), MRR@k, nDCG@k.
// Mirrors scripts/modelkit/metrics.py. A ranking is a list of corpus indexes, best first.

/** 1-based rank of the first relevant document within the first `depth` entries, or undefined. */
export function firstRelevantRank(
  ranking: readonly number[],
  relevant: ReadonlySet<number>,
  depth = ranking.length,
): number | undefined {
  const n = Math.min(depth, ranking.length);
  for (let i = 0; i < n; i++) if (relevant.has(ranking[i]!)) return i + 1;
  return undefined;
}

/** 1 if a relevant document is in the first k, else 0. */
export function hitAt(ranking: readonly number[], relevant: ReadonlySet<number>, k: number): number {
  return firstRelevantRank(ranking, relevant, k) === undefined ? 0 : 1;
}

/** 1 / rank of the first relevant document within the first k, 0 if none. */
export function reciprocalRankAt(ranking: readonly number[], relevant: ReadonlySet<number>, k: number): number {
  const r = firstRelevantRank(ranking, relevant, k);
  return r === undefined ? 0 : 1 / r;
}

/**
 * nDCG@k with binary gains: DCG = sum over ranks i <= k of rel_i / log2(i + 1);
 * the ideal DCG puts all relevant documents (at most k) first. 0 when nothing is relevant.
 */
export function ndcgAt(ranking: readonly number[], relevant: ReadonlySet<number>, k: number): number {
  let dcg = 0;
  const n = Math.min(k, ranking.length);
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const doc = ranking[i]!;
    // A document listed twice counts once (rankings from the eval pipeline never repeat one).
    if (relevant.has(doc) && !seen.has(doc)) dcg += 1 / Math.log2(i + 2);
    seen.add(doc);
  }
  let ideal = 0;
  const m = Math.min(k, relevant.size);
  for (let i = 0; i < m; i++) ideal += 1 / Math.log2(i + 2);
  return ideal === 0 ? 0 : dcg / ideal;
}

export interface Summary {
  /** hit@contexts: the share of queries with a relevant passage among the first `contexts` (what a RAG prompt gets). */
  hasRightInContexts: number;
  /** MRR over the first `depth` (top-k) entries. */
  mrr: number;
  hit1: number;
  hit5: number;
  ndcg10: number;
  queries: number;
}

export interface SummaryOptions {
  /** Ranking depth: MRR@depth, and rankings are cut to it. */
  depth: number;
  /** Contexts handed to the LLM: has-right-in-contexts = hit@contexts. */
  contexts: number;
}

/** Mean metrics over queries; every ranking is cut to `depth` first (hit@5 with depth 3 is hit@3). */
export function summarize(
  rankings: readonly (readonly number[])[],
  relevants: readonly ReadonlySet<number>[],
  opts: SummaryOptions,
): Summary {
  if (rankings.length !== relevants.length)
    throw new Error(`${rankings.length} rankings but ${relevants.length} relevance sets`);
  const n = rankings.length;
  let inContexts = 0;
  let mrr = 0;
  let hit1 = 0;
  let hit5 = 0;
  let ndcg10 = 0;
  for (let q = 0; q < n; q++) {
    const ranking = rankings[q]!.slice(0, opts.depth);
    const rel = relevants[q]!;
    inContexts += hitAt(ranking, rel, opts.contexts);
    mrr += reciprocalRankAt(ranking, rel, opts.depth);
    hit1 += hitAt(ranking, rel, 1);
    hit5 += hitAt(ranking, rel, 5);
    ndcg10 += ndcgAt(ranking, rel, 10);
  }
  const mean = (x: number) => (n === 0 ? 0 : x / n);
  return {
    hasRightInContexts: mean(inContexts),
    mrr: mean(mrr),
    hit1: mean(hit1),
    hit5: mean(hit5),
    ndcg10: mean(ndcg10),
    queries: n,
  };
}
