// Truncation and chunking of a (query, passage) pair: token ids in, the model's input sequences out.
// The query is kept whole up to floor(maxLen * queryMaxShare) tokens; only the passage is cut or split.
import { layoutOverhead, typeStartOf, type PairLayout } from './pair-layout.ts';

export interface ChunkingOptions {
  /** Most windows one passage is split into; the rest of a longer passage is not scored (truncated: true). */
  maxChunksPerDoc: number;
  /** Tokens shared by consecutive windows. */
  overlapTokens: number;
}

export interface PairPlanOptions {
  maxLen: number;
  queryMaxShare: number;
  /** Special tokens and segments of the model's pair input (tokenizer.json's post-processor). */
  layout: PairLayout;
  /** Cap on the passage tokens of one window (clamped to what fits with the query). */
  maxTokensPerDoc?: number;
  /** Split a passage that does not fit into overlapping windows instead of cutting it. */
  chunking?: ChunkingOptions;
}

export interface PairPlan {
  /** One model input per window: prefix q middle window suffix. One item unless the passage was chunked. */
  seqs: number[][];
  /** First position of token type 1 in each of seqs (the same for every window); undefined: all type 0. */
  typeStart?: number;
  /** Some of the passage's tokens were not scored. */
  truncated: boolean;
  /** Passage tokens per window (the cap that applied). */
  window: number;
  /** The query was cut to floor(maxLen * queryMaxShare) tokens. */
  queryTruncated: boolean;
}

/** Most query tokens kept: floor(maxLen * queryMaxShare), and room for the special tokens (`overhead`). */
export function queryCap(maxLen: number, queryMaxShare: number, overhead: number): number {
  return Math.max(0, Math.min(Math.floor(maxLen * queryMaxShare), maxLen - overhead));
}

/** Passage tokens that fit with a query of qTokens tokens, after the query cap, beside `overhead` special tokens. */
export function passageRoom(
  qTokens: number,
  maxLen: number,
  queryMaxShare: number,
  overhead: number,
): { qLen: number; room: number } {
  const qLen = Math.min(qTokens, queryCap(maxLen, queryMaxShare, overhead));
  return { qLen, room: Math.max(0, maxLen - overhead - qLen) };
}

function build(
  q: readonly number[],
  qLen: number,
  p: readonly number[],
  from: number,
  to: number,
  layout: PairLayout,
): number[] {
  const ids = new Array<number>(qLen + (to - from) + layoutOverhead(layout));
  let k = 0;
  for (const id of layout.prefix) ids[k++] = id;
  for (let i = 0; i < qLen; i++) ids[k++] = q[i]!;
  for (const id of layout.middle) ids[k++] = id;
  for (let i = from; i < to; i++) ids[k++] = p[i]!;
  for (const id of layout.suffix) ids[k++] = id;
  return ids;
}

/**
 * Window starts covering `length` tokens with windows of `window` tokens overlapping by `overlap`: one every
 * stride = window - overlap; the last window may be shorter. At most `max` windows: a longer passage gets the first
 * `max` (its tail is not scored). (A last window shifted back to be full length was measured worse with the embedded
 * model: it adds more unrelated context around the passage's end.)
 */
export function windowStarts(length: number, window: number, overlap: number, max: number): number[] {
  if (length <= window) return [0];
  const stride = window - overlap;
  const needed = Math.ceil((length - window) / stride) + 1;
  const count = Math.min(needed, max);
  const starts = Array.from({ length: count }, (_, i) => i * stride);
  return starts;
}

/**
 * The model inputs of one pair. Without chunking: one sequence, the passage cut to the window.
 * With chunking: a passage longer than the window is split into windows of `window` tokens overlapping by
 * overlapTokens (at most half a window; at most maxChunksPerDoc windows); the caller aggregates their logits (max).
 */
export function planPair(q: readonly number[], p: readonly number[], o: PairPlanOptions): PairPlan {
  const { qLen, room } = passageRoom(q.length, o.maxLen, o.queryMaxShare, layoutOverhead(o.layout));
  const typeStart = typeStartOf(o.layout, qLen);
  const window = o.maxTokensPerDoc === undefined ? room : Math.min(room, o.maxTokensPerDoc);
  if (p.length <= window || !o.chunking || window === 0) {
    const to = Math.min(p.length, window);
    return {
      seqs: [build(q, qLen, p, 0, to, o.layout)],
      typeStart,
      truncated: p.length > window,
      window,
      queryTruncated: qLen < q.length,
    };
  }
  // At most half a window of overlap, so the windows always advance.
  const overlap = Math.min(o.chunking.overlapTokens, Math.floor(window / 2));
  const starts = windowStarts(p.length, window, overlap, o.chunking.maxChunksPerDoc);
  const seqs = starts.map((s) => build(q, qLen, p, s, Math.min(p.length, s + window), o.layout));
  const last = starts[starts.length - 1]! + window;
  return { seqs, typeStart, truncated: last < p.length, window, queryTruncated: qLen < q.length };
}
