// Realistic RAG requests built from data/msmarco-ko, the same for every part of the throughput suite:
//   rag20: 1 query x 20 candidate passages of mixed length (the query's own positive among 19 random passages);
//   rag50: 1 query x 50;
//   long:  1 query x 20 long passages (several passages joined to 380-600 tokens, so most pairs sit near max_len 512).
// Seeded, so two runs (and the raw limit and the service in one run) see the same pairs.
import { loadMsmarcoKo } from './data.ts';
import { assemblePair, type TextTokenizer } from '../../src/core/tokenizer.ts';

export type WorkloadName = 'rag20' | 'rag50' | 'long';
export const WORKLOADS: readonly WorkloadName[] = ['rag20', 'rag50', 'long'];

export interface RerankRequest {
  query: string;
  passages: string[];
}

export interface Workload {
  name: WorkloadName;
  requests: RerankRequest[];
  /** Pre-serialized POST /rerank bodies, one per request. */
  bodies: string[];
  /** The encoded pairs of every request, in request order (what the engine submits to the batcher). */
  seqs: number[][][];
  pairsPerRequest: number;
}

/** mulberry32: a small seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface EncodeContext {
  tokenizer: TextTokenizer;
  maxLen: number;
  queryMaxShare: number;
}

export async function encodeRequests(reqs: readonly RerankRequest[], ctx: EncodeContext): Promise<number[][][]> {
  const out: number[][][] = [];
  for (const r of reqs) {
    const [q, ...ps] = await ctx.tokenizer.encodeMany([r.query, ...r.passages]);
    out.push(ps.map((p) => assemblePair(q!, p, ctx.maxLen, ctx.queryMaxShare, ctx.tokenizer.layout).ids));
  }
  return out;
}

export async function buildWorkloads(
  ctx: EncodeContext,
  counts: Record<WorkloadName, number>,
): Promise<Record<WorkloadName, Workload>> {
  const rows = loadMsmarcoKo();
  const corpus = [...new Set(rows.flatMap((r) => r.pos))];
  const rand = rng(20261127);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

  const candidates = (row: { pos: string[] }, n: number): string[] => {
    const list = new Set<string>([row.pos[0]!]);
    while (list.size < n) list.add(pick(corpus));
    const arr = [...list];
    // Fisher-Yates, so the positive is anywhere in the list.
    for (let i = arr.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [arr[i], arr[j]] = [arr[j]!, arr[i]!];
    }
    return arr;
  };

  // Token counts of the corpus, to join passages into long ones of a chosen length.
  const corpusTokens = (await ctx.tokenizer.encodeMany(corpus)).map((ids) => ids.length);
  const longPassage = (): string => {
    const target = 380 + Math.floor(rand() * 220);
    const parts: string[] = [];
    let tokens = 0;
    while (tokens < target) {
      const i = Math.floor(rand() * corpus.length);
      parts.push(corpus[i]!);
      tokens += corpusTokens[i]!;
    }
    return parts.join(' ');
  };

  const make = async (name: WorkloadName, count: number): Promise<Workload> => {
    const requests: RerankRequest[] = [];
    for (let i = 0; i < count; i++) {
      const row = pick(rows);
      if (name === 'long') requests.push({ query: row.query, passages: Array.from({ length: 20 }, longPassage) });
      else requests.push({ query: row.query, passages: candidates(row, name === 'rag20' ? 20 : 50) });
    }
    return {
      name,
      requests,
      bodies: requests.map((r) => JSON.stringify(r)),
      seqs: await encodeRequests(requests, ctx),
      pairsPerRequest: requests[0]!.passages.length,
    };
  };
  return {
    rag20: await make('rag20', counts.rag20),
    rag50: await make('rag50', counts.rag50),
    long: await make('long', counts.long),
  };
}

/** Length statistics of a workload's encoded pairs. */
export function lengthStats(w: Workload): {
  pairs: number;
  meanTokens: number;
  p50: number;
  p90: number;
  max: number;
  atMaxLen: number;
} {
  const lens = w.seqs
    .flat()
    .map((s) => s.length)
    .sort((a, b) => a - b);
  const at = (p: number) => lens[Math.min(lens.length - 1, Math.floor(p * lens.length))]!;
  const max = lens[lens.length - 1]!;
  return {
    pairs: lens.length,
    meanTokens: Math.round(lens.reduce((a, b) => a + b, 0) / lens.length),
    p50: at(0.5),
    p90: at(0.9),
    max,
    atMaxLen: lens.filter((l) => l === max).length / lens.length,
  };
}
