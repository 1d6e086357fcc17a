// Okapi BM25 first stage with Korean-friendly terms and no morphological analyser.
// Mirrors scripts/train/korerank_train/bm25.py (same terms, same float operations in the same order, ties by document
// index), so both give the same top-k on the same corpus. Inverted index in typed arrays (CSR by term).

export type TermMode = 'bigrams' | 'words';

// Python's str.split() separators (str.isspace): JS's \s lacks U+001C-001F and U+0085 and adds U+FEFF.
// eslint-disable-next-line no-control-regex -- U+001C-001F are whitespace to Python, on purpose
const WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

function splitWords(text: string): string[] {
  return text
    .toLowerCase()
    .split(WHITESPACE)
    .filter((w) => w !== '');
}

/**
 * Character bigrams inside each lowercased whitespace word (code points, not UTF-16 units); a
 * one-character word is kept as a unigram.
 */
export function charBigrams(text: string): string[] {
  const terms: string[] = [];
  for (const word of splitWords(text)) {
    const chars = Array.from(word);
    if (chars.length === 1) terms.push(chars[0]!);
    else for (let i = 0; i + 1 < chars.length; i++) terms.push(chars[i]! + chars[i + 1]!);
  }
  return terms;
}

/** Lowercased whitespace words. */
export function wordTerms(text: string): string[] {
  return splitWords(text);
}

export function termsOf(mode: TermMode): (text: string) => string[] {
  return mode === 'words' ? wordTerms : charBigrams;
}

export interface BM25Options {
  terms?: TermMode;
  k1?: number;
  b?: number;
}

export class BM25 {
  readonly size: number;
  readonly k1: number;
  readonly b: number;
  readonly terms: TermMode;
  readonly avgLength: number;
  private readonly tokenize: (text: string) => string[];
  private readonly vocab = new Map<string, number>();
  /** Postings of term t: docs[offsets[t] .. offsets[t+1]) with their term frequencies in tf. */
  private readonly offsets: Uint32Array;
  private readonly docs: Uint32Array;
  private readonly tf: Float64Array;
  private readonly idfs: Float64Array;
  /** k1 * (1 - b + b * length / avgLength), per document. */
  private readonly norm: Float64Array;
  // Scratch space reused across queries.
  private readonly acc: Float64Array;
  private readonly touched: Uint32Array;

  constructor(documents: readonly string[], opts: BM25Options = {}) {
    this.k1 = opts.k1 ?? 1.2;
    this.b = opts.b ?? 0.75;
    this.terms = opts.terms ?? 'bigrams';
    this.tokenize = termsOf(this.terms);
    const n = (this.size = documents.length);

    // Pass 1: per-document term counts, appended as (term, tf) runs in document order.
    const lengths = new Float64Array(n);
    let pairTerm = new Uint32Array(1 << 16);
    let pairTf = new Uint32Array(1 << 16);
    let pairs = 0;
    const docEnd = new Uint32Array(n);
    const df: number[] = [];
    const counts = new Map<number, number>();
    for (let d = 0; d < n; d++) {
      counts.clear();
      let length = 0;
      for (const term of this.tokenize(documents[d]!)) {
        let id = this.vocab.get(term);
        if (id === undefined) {
          id = this.vocab.size;
          this.vocab.set(term, id);
          df.push(0);
        }
        counts.set(id, (counts.get(id) ?? 0) + 1);
        length++;
      }
      lengths[d] = length;
      if (pairs + counts.size > pairTerm.length) {
        const cap = Math.max(pairTerm.length * 2, pairs + counts.size);
        const t2 = new Uint32Array(cap);
        t2.set(pairTerm.subarray(0, pairs));
        const f2 = new Uint32Array(cap);
        f2.set(pairTf.subarray(0, pairs));
        pairTerm = t2;
        pairTf = f2;
      }
      for (const [id, c] of counts) {
        pairTerm[pairs] = id;
        pairTf[pairs] = c;
        pairs++;
        df[id]!++;
      }
      docEnd[d] = pairs;
    }

    // Pass 2: CSR by term; documents are visited in order, so each posting list is sorted by document.
    const terms = this.vocab.size;
    this.offsets = new Uint32Array(terms + 1);
    for (let t = 0; t < terms; t++) this.offsets[t + 1] = this.offsets[t]! + df[t]!;
    this.docs = new Uint32Array(pairs);
    this.tf = new Float64Array(pairs);
    const fill = this.offsets.slice(0, terms);
    let p = 0;
    for (let d = 0; d < n; d++) {
      for (; p < docEnd[d]!; p++) {
        const t = pairTerm[p]!;
        const at = fill[t]!++;
        this.docs[at] = d;
        this.tf[at] = pairTf[p]!;
      }
    }

    let total = 0;
    for (let d = 0; d < n; d++) total += lengths[d]!;
    this.avgLength = n === 0 ? 0 : total / n;
    this.idfs = new Float64Array(terms);
    for (let t = 0; t < terms; t++) this.idfs[t] = Math.log(1.0 + (n - df[t]! + 0.5) / (df[t]! + 0.5));
    this.norm = new Float64Array(n);
    for (let d = 0; d < n; d++) this.norm[d] = this.k1 * (1.0 - this.b + (this.b * lengths[d]!) / this.avgLength);
    this.acc = new Float64Array(n);
    this.touched = new Uint32Array(n);
  }

  /** Number of distinct terms in the index. */
  get vocabularySize(): number {
    return this.vocab.size;
  }

  /** idf of a term as the index sees it (undefined if no document has it). */
  idf(term: string): number | undefined {
    const t = this.vocab.get(term);
    return t === undefined ? undefined : this.idfs[t];
  }

  /** Accumulates the query's scores into acc; returns how many documents it touched (listed in `touched`). */
  private accumulate(query: string): number {
    const qtf = new Map<number, number>();
    // Query terms in order of first appearance, as Python's Counter iterates them: float sums keep the same order.
    for (const term of this.tokenize(query)) {
      const t = this.vocab.get(term);
      if (t !== undefined) qtf.set(t, (qtf.get(t) ?? 0) + 1);
    }
    const { acc, touched, docs, tf, norm, offsets } = this;
    const k1p1 = this.k1 + 1.0;
    let count = 0;
    for (const [t, q] of qtf) {
      const w = q * this.idfs[t]!;
      for (let i = offsets[t]!, end = offsets[t + 1]!; i < end; i++) {
        const d = docs[i]!;
        const f = tf[i]!;
        if (acc[d] === 0) touched[count++] = d;
        acc[d] += (w * f * k1p1) / (f + norm[d]!);
      }
    }
    return count;
  }

  /** Scores of every document for the query (a fresh array). */
  scores(query: string): Float64Array {
    const count = this.accumulate(query);
    const out = this.acc.slice();
    for (let i = 0; i < count; i++) this.acc[this.touched[i]!] = 0;
    return out;
  }

  /** Indexes of the k best documents, best first; ties (including score 0) broken by document index. */
  top(query: string, k: number): number[] {
    const count = this.accumulate(query);
    const { acc, touched } = this;
    const want = Math.min(k, this.size);
    const best: number[] = [];
    const better = (a: number, b: number) => acc[a]! > acc[b]! || (acc[a] === acc[b] && a < b);
    for (let i = 0; i < count; i++) {
      const d = touched[i]!;
      if (best.length === want && !better(d, best[want - 1]!)) continue;
      let j = best.length === want ? want - 1 : best.length;
      // Insertion into the sorted top list.
      while (j > 0 && better(d, best[j - 1]!)) {
        best[j] = best[j - 1]!;
        j--;
      }
      best[j] = d;
    }
    // Fewer than k documents share a term with the query: the rest score 0 and follow in index order.
    for (let d = 0; best.length < want && d < this.size; d++) if (acc[d] === 0) best.push(d);
    for (let i = 0; i < count; i++) acc[touched[i]!] = 0;
    return best;
  }
}
