// A test backend: deterministic logits from the token ids, an optional delay per micro-batch, a count of the rows
// that reached it, and a poison token id whose rows make run() throw (as an out-of-memory or a bad row would).
import type { Backend, BackendResult, TensorBatch } from '../../src/backend/contract.ts';

export class ScriptedBackend implements Backend {
  readonly slots: number;
  delayMs = 0;
  /** Rows that reached run(), whether it threw or not. */
  rows = 0;
  runs = 0;
  /** Rows per run() call, in order. */
  batches: number[] = [];
  poison: number | undefined;
  /** While set, run() waits for it (a test holds the backend busy for as long as it needs). */
  gate: Promise<void> | undefined;

  constructor(slots = 1) {
    this.slots = slots;
  }

  /** The logit this backend gives a row: a function of its real token ids only (not of the batch around it). */
  static logit(ids: readonly number[]): number {
    let h = 0;
    for (const id of ids) h = (h * 31 + id) % 10007;
    return h / 1000 - 5;
  }

  async run(b: TensorBatch): Promise<BackendResult> {
    this.rows += b.rows;
    this.runs++;
    this.batches.push(b.rows);
    const rows: number[][] = [];
    for (let r = 0; r < b.rows; r++) {
      const ids: number[] = [];
      for (let i = 0; i < b.seqLen; i++) if (b.mask[r * b.seqLen + i] === 1n) ids.push(Number(b.ids[r * b.seqLen + i]));
      rows.push(ids);
    }
    if (this.gate) await this.gate;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.poison !== undefined && rows.some((ids) => ids.includes(this.poison!)))
      throw new Error('CUDA out of memory (poisoned row)');
    return { logits: Float32Array.from(rows.map(ScriptedBackend.logit)), inferenceMs: this.delayMs };
  }

  async close() {}
}

/**
 * The value of one sample of a Prometheus text exposition, e.g.
 * metric('ko_rerank_dropped_pairs_total{reason="timeout"}').
 */
export function metricValue(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
  return line === undefined ? NaN : Number(line.slice(sample.length + 1));
}
