// Padding waste (padded tokens / real tokens - 1) of the service's batcher vs plain FIFO batching (TEI's policy:
// pairs in arrival order under the same token budget and row cap), on the same request stream: `concurrency`
// clients each submit their next request when the previous one is answered; the backend answers at once and
// records the micro-batches. Inference time plays no part, so the comparison is exact and repeatable.
import { Batcher } from '../../src/core/batcher.ts';
import type { Backend, TensorBatch } from '../../src/backend/contract.ts';

interface Submitter {
  submit(seqs: readonly (readonly number[])[]): Promise<unknown>;
}

class RecordingBackend implements Backend {
  // As OnnxBackend with one worker: one micro-batch running, the next one queued.
  readonly slots = 2;
  padded = 0;
  real = 0;
  batches = 0;
  /** Off once clients start running out of requests: the drain at the end is not steady state. */
  counting = true;
  async run(b: TensorBatch) {
    if (!this.counting) return { logits: new Float32Array(b.rows), inferenceMs: 0 };
    this.batches++;
    this.padded += b.rows * b.seqLen;
    for (let i = 0; i < b.mask.length; i++) this.real += Number(b.mask[i]);
    // Inference time grows with the padded tokens (2 tokens per microsecond), so the queue fills while a batch runs.
    await new Promise((r) => setTimeout(r, (b.rows * b.seqLen) / 2000));
    return { logits: new Float32Array(b.rows), inferenceMs: 0 };
  }
  async close() {}
}

/** Plain FIFO batching: the queue head, in arrival order, while rows x longest stays under the budget. */
class FifoBatcher implements Submitter {
  private queue: { seq: readonly number[]; done: () => void }[] = [];
  private inFlight = 0;
  constructor(
    private readonly backend: Backend,
    private readonly opts: { maxBatchTokens: number; maxBatchSize: number; padId: number },
  ) {}

  submit(seqs: readonly (readonly number[])[]): Promise<void> {
    return new Promise((resolve) => {
      let left = seqs.length;
      for (const seq of seqs) this.queue.push({ seq, done: () => --left === 0 && resolve() });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.backend.slots && this.queue.length > 0) {
      let n = 0;
      let longest = 0;
      while (n < this.queue.length && n + 1 <= this.opts.maxBatchSize) {
        const l = Math.max(longest, this.queue[n]!.seq.length);
        if (n > 0 && (n + 1) * l > this.opts.maxBatchTokens) break;
        longest = l;
        n++;
      }
      const batch = this.queue.splice(0, n);
      this.inFlight++;
      void this.backend
        .run(
          Batcher.buildTensors(
            batch.map((b) => b.seq),
            this.opts.padId,
          ),
        )
        .then(() => {
          this.inFlight--;
          for (const b of batch) b.done();
          this.pump();
        });
    }
  }
}

export interface PaddingResult {
  batches: number;
  waste: number;
}

async function drive(
  make: (backend: Backend) => Submitter,
  stream: readonly (readonly (readonly number[])[])[],
  concurrency: number,
): Promise<PaddingResult> {
  const backend = new RecordingBackend();
  const sub = make(backend);
  // The stream is cycled long enough for a steady state (at least 20 requests per client).
  const total = Math.max(stream.length, 20 * concurrency);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await sub.submit(stream[next++ % stream.length]!);
      backend.counting = false;
    }),
  );
  return { batches: backend.batches, waste: backend.padded / backend.real - 1 };
}

export async function paddingComparison(
  stream: readonly (readonly (readonly number[])[])[],
  concurrency: number,
  opts: { maxBatchTokens: number; maxBatchSize: number; maxWaitMs: number; padId: number },
): Promise<{ batcher: PaddingResult; fifo: PaddingResult }> {
  const batcher = await drive((b) => new Batcher(b, opts), stream, concurrency);
  const fifo = await drive((b) => new FifoBatcher(b, opts), stream, concurrency);
  return { batcher, fifo };
}
