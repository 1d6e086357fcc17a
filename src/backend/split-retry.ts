// Failure isolation: when a micro-batch's run throws (out of memory, a row the model cannot take), split it in
// halves and retry each, recursively, so only the rows that fail even alone are lost. Those come back in
// `failed`; the batcher fails the requests that own them (error type backend) and the others get their logits.
// A run lost with its worker (WorkerLostError) is not split: the requests that owned it fail, the pool restarts.
import {
  WorkerLostError,
  BackendDownError,
  RunWithdrawnError,
  type Backend,
  type BackendInfo,
  type BackendResult,
  type PoolHealth,
  type TensorBatch,
} from './contract.ts';

export interface SplitRetryHooks {
  /** A run failed and was split in two. */
  onSplit?(rows: number, err: Error): void;
  /** A row failed alone. */
  onRowFailed?(err: Error): void;
}

/** Rows [start, start + rows) of a micro-batch, copied (the inner backend may transfer the buffers away). */
export function sliceBatch(b: TensorBatch, start: number, rows: number): TensorBatch {
  const from = start * b.seqLen;
  const to = (start + rows) * b.seqLen;
  const part: TensorBatch = { rows, seqLen: b.seqLen, ids: b.ids.slice(from, to), mask: b.mask.slice(from, to) };
  if (b.typeIds) part.typeIds = b.typeIds.slice(from, to);
  if (b.padId !== undefined) part.padId = b.padId;
  return part;
}

export class SplitRetryBackend implements Backend {
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly inner: Backend,
    private readonly hooks: SplitRetryHooks = {},
  ) {}

  get slots(): number {
    return this.inner.slots;
  }

  get info(): BackendInfo | undefined {
    return this.inner.info;
  }

  health(): PoolHealth | undefined {
    return this.inner.health?.();
  }

  /**
   * Resolves once no run is in progress (a forced shutdown waits for it: ending a
   * session.run midway aborts the process).
   */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  run(batch: TensorBatch, signal?: AbortSignal): Promise<BackendResult> {
    const p = this.runSplit(batch, signal);
    this.running.add(p);
    void p.finally(() => this.running.delete(p)).catch(() => {});
    return p;
  }

  /** `signal` (a withdrawal, see Backend.run) applies to the first try only: halves are never withdrawn. */
  private async runSplit(batch: TensorBatch, signal?: AbortSignal): Promise<BackendResult> {
    // The inner backend gets copies: the originals stay here for the halves if the run fails.
    const first = await this.tryRun(sliceBatch(batch, 0, batch.rows), signal);
    if (!(first instanceof Error)) return first;
    // A worker that died or hung, or no worker at all: not the rows' fault, and retrying could kill the next worker.
    // A withdrawn run did not fail: its caller queues the rows again.
    if (first instanceof WorkerLostError || first instanceof BackendDownError || first instanceof RunWithdrawnError)
      throw first;
    if (batch.rows === 1) {
      this.hooks.onRowFailed?.(first);
      return { logits: new Float32Array([NaN]), inferenceMs: 0, failed: { rows: [0], message: first.message } };
    }
    this.hooks.onSplit?.(batch.rows, first);
    const logits = new Float32Array(batch.rows);
    let inferenceMs = 0;
    const failedRows: number[] = [];
    let message = first.message;
    const half = Math.ceil(batch.rows / 2);
    for (const [start, rows] of [
      [0, half],
      [half, batch.rows - half],
    ] as const) {
      const part = await this.runSplit(sliceBatch(batch, start, rows));
      logits.set(part.logits, start);
      inferenceMs += part.inferenceMs;
      if (part.failed) {
        failedRows.push(...part.failed.rows.map((r) => r + start));
        message = part.failed.message;
      }
    }
    return failedRows.length > 0
      ? { logits, inferenceMs, failed: { rows: failedRows, message } }
      : { logits, inferenceMs };
  }

  private async tryRun(batch: TensorBatch, signal?: AbortSignal): Promise<BackendResult | Error> {
    try {
      return await this.inner.run(batch, signal);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
