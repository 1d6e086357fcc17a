// The limit: a bare onnxruntime-node session over already-tokenized pairs in ideal batches (all pairs sorted by
// length, cut under the same MAX_BATCH_TOKENS / MAX_BATCH_SIZE as the service). No HTTP, no queue, no tokenization,
// no thread hop. Session options come from src/backend/session-options.ts, as the worker's do.
import ort from 'onnxruntime-node';
import { Batcher } from '../../src/core/batcher.ts';
import { sessionOptions, type SessionSettings } from '../../src/backend/session-options.ts';

export interface RawOptions extends Omit<SessionSettings, 'cudaDeviceId'> {
  onnxPath: string;
  /** Where the session runs (default cpu; the GPU kit, bench/gpu/service-bench.ts, runs it on cuda, device 0). */
  provider?: 'cuda' | 'cpu';
  maxBatchTokens: number;
  maxBatchSize: number;
  padId: number;
}

export interface RawResult {
  pairs: number;
  seconds: number;
  pairsPerSec: number;
  batches: number;
  realTokens: number;
  paddedTokens: number;
}

/** Length-sorted micro-batches under the budget: the least padding any batcher can reach on these pairs. */
export function idealBatches(
  seqs: readonly (readonly number[])[],
  maxBatchTokens: number,
  maxBatchSize: number,
): (readonly number[])[][] {
  const sorted = [...seqs].sort((a, b) => a.length - b.length);
  const batches: (readonly number[])[][] = [];
  let cur: (readonly number[])[] = [];
  for (const s of sorted) {
    // Sorted ascending: s is the longest of the batch if added.
    if (cur.length > 0 && (cur.length + 1 > maxBatchSize || (cur.length + 1) * s.length > maxBatchTokens)) {
      batches.push(cur);
      cur = [];
    }
    cur.push(s);
  }
  if (cur.length > 0) batches.push(cur);
  return batches;
}

export class RawSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly opts: RawOptions,
  ) {}

  static async create(opts: RawOptions): Promise<RawSession> {
    const so = sessionOptions(opts.provider ?? 'cpu', { ...opts, cudaDeviceId: 0 });
    return new RawSession(await ort.InferenceSession.create(opts.onnxPath, so), opts);
  }

  private feeds(rows: number, seqLen: number, ids: BigInt64Array, mask: BigInt64Array): Record<string, ort.Tensor> {
    const f: Record<string, ort.Tensor> = {};
    for (const name of this.session.inputNames) {
      if (name === 'input_ids') f[name] = new ort.Tensor('int64', ids, [rows, seqLen]);
      else if (name === 'attention_mask') f[name] = new ort.Tensor('int64', mask, [rows, seqLen]);
      else f[name] = new ort.Tensor('int64', new BigInt64Array(rows * seqLen), [rows, seqLen]);
    }
    return f;
  }

  /** Runs all pairs (tensors built beforehand, outside the clock) for at least minSeconds; pairs/s. */
  async run(seqs: readonly (readonly number[])[], minSeconds: number): Promise<RawResult> {
    const batches = idealBatches(seqs, this.opts.maxBatchTokens, this.opts.maxBatchSize);
    const tensors = batches.map((b) => Batcher.buildTensors(b, this.opts.padId));
    const realTokens = seqs.reduce((n, s) => n + s.length, 0);
    const paddedTokens = tensors.reduce((n, t) => n + t.rows * t.seqLen, 0);
    // Warm-up: one pass over the distinct shapes' first batch.
    await this.session.run(this.feeds(tensors[0]!.rows, tensors[0]!.seqLen, tensors[0]!.ids, tensors[0]!.mask));
    let pairs = 0;
    const t0 = performance.now();
    do {
      for (const t of tensors) {
        await this.session.run(this.feeds(t.rows, t.seqLen, t.ids, t.mask));
        pairs += t.rows;
      }
    } while (performance.now() - t0 < minSeconds * 1000);
    const seconds = (performance.now() - t0) / 1000;
    return { pairs, seconds, pairsPerSec: pairs / seconds, batches: batches.length, realTokens, paddedTokens };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
