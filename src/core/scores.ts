// Score normalisation and ordering. Sorting is always on the raw fp32 logits.

/** Softmax over a request's logits (the ko-reranker card's exp_normalize), max-subtracted, in float64. NaN scores 0. */
export function softmax(logits: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    if (x > max) max = x;
  }
  const out = new Array<number>(logits.length).fill(0);
  if (max === -Infinity) return out;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    const e = Number.isNaN(x) ? 0 : Math.exp(x - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

/** sigmoid(logit): FlagReranker normalize=True, independent of the list. */
export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** Indices ordered by logit, highest first; NaN last; ties keep input order. */
export function rankOrder(logits: ArrayLike<number>): number[] {
  const idx = Array.from({ length: logits.length }, (_, i) => i);
  const key = (i: number) => (Number.isNaN(logits[i]!) ? -Infinity : logits[i]!);
  return idx.sort((a, b) => key(b) - key(a) || a - b);
}

export type Normalize = 'softmax' | 'sigmoid' | 'none' | 'calibrated';

/** Platt scaling's parameters: P(relevant) = sigmoid(a * logit + b), a > 0. */
export interface PlattParameters {
  a: number;
  b: number;
}

/** The calibrated probability of relevance of a logit; rises with the logit (a > 0). NaN scores 0. */
export function calibrated(x: number, c: PlattParameters): number {
  return Number.isNaN(x) ? 0 : sigmoid(c.a * x + c.b);
}

/**
 * The scores of a request's logits: softmax over all of them, sigmoid of each, the logits themselves, or each one's
 * calibrated probability (needs the model's calibration).
 */
export function normalizeScores(logits: ArrayLike<number>, mode: Normalize, calibration?: PlattParameters): number[] {
  if (mode === 'softmax') return softmax(logits);
  const out = Array.from(logits);
  if (mode === 'calibrated') {
    if (!calibration) throw new Error('normalize "calibrated" needs a calibration');
    return out.map((x) => calibrated(x, calibration));
  }
  return mode === 'sigmoid' ? out.map(sigmoid) : out;
}
