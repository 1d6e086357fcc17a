// Gives a burst's memory back to the OS once the server is idle: a full V8 GC, then glibc's malloc_trim(0) off the
// event loop, because freed native memory (mostly the tokenizers library's thread arenas) stays in malloc's arenas
// otherwise. It runs only when RSS grew RECLAIM_MIN_GROWTH since the last time, so light traffic does not pay for it.
// What and why: docs/operations.md (Memory after a burst); the measurements: bench/results/history.md.
import { createRequire } from 'node:module';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from 'pino';

/** Reclaim only after RSS grew this much since the last reclaim (or start-up). */
export const RECLAIM_MIN_GROWTH = 32 * 2 ** 20;

export type MallocTrim = () => Promise<void>;

/**
 * glibc's malloc_trim(0) through koffi (an FFI with prebuilt binaries; no compiler, no install script), called
 * asynchronously: it locks each arena in turn and madvises its free pages away, which takes milliseconds to tens of
 * them on a large heap. Returns why not where there is no glibc (macOS, musl) or no koffi binary for this platform.
 */
export function loadMallocTrim(): { trim: MallocTrim } | { reason: string } {
  if (process.platform !== 'linux') return { reason: `no glibc on ${process.platform}` };
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const fn = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)');
    const trim: MallocTrim = () =>
      new Promise((resolve, reject) => fn.async(0, (err: unknown) => (err ? reject(err as Error) : resolve())));
    return { trim };
  } catch (err) {
    return { reason: (err as Error).message.split('\n')[0] ?? String(err) };
  }
}

/** V8's full GC, obtained the way jest's leak detector does (--expose-gc for one new context, then off again). */
function loadGc(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  v8.setFlagsFromString('--no-expose-gc');
  return gc;
}

export interface ReclaimOptions {
  /** Quiet time before a reclaim; 0 = never reclaim. */
  idleMs: number;
  /** True while work is inside the engine: the reclaim waits for another quiet period. */
  busy: () => boolean;
  registry: Registry;
  log: Pick<Logger, 'info' | 'warn'>;
}

export class MemoryReclaimer {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private running = false;
  private floor = process.memoryUsage.rss();
  private gc: (() => void) | undefined;
  private readonly trim: MallocTrim | null;
  readonly reclaims: Counter;
  readonly released: Counter;

  constructor(private readonly opts: ReclaimOptions) {
    // One registry may serve two apps (a test builds a second one on the same engine): the counters are shared.
    const counter = (name: string, help: string) =>
      (opts.registry.getSingleMetric(name) as Counter | undefined) ??
      new Counter({ name, help, registers: [opts.registry] });
    this.reclaims = counter(
      'ko_rerank_memory_reclaims_total',
      'Times the process gave memory back after MEMORY_RECLAIM_IDLE_MS without POST requests (full V8 GC + malloc_trim)',
    );
    this.released = counter(
      'ko_rerank_memory_reclaimed_bytes_total',
      'Resident memory (RSS) given back by those reclaims',
    );
    const loaded = opts.idleMs > 0 ? loadMallocTrim() : { reason: 'off' };
    this.trim = 'trim' in loaded ? loaded.trim : null;
    if ('reason' in loaded && opts.idleMs > 0)
      opts.log.warn(`malloc_trim not available (${loaded.reason}): after a burst only V8's heap is given back`);
  }

  /** A request came or went: the quiet period starts again. */
  touch(): void {
    if (this.opts.idleMs <= 0 || this.closed) return;
    if (this.timer) this.timer.refresh();
    else {
      this.timer = setTimeout(() => void this.fire(), this.opts.idleMs);
      this.timer.unref();
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    if (this.closed || this.running) return;
    if (this.opts.busy()) return this.touch();
    if (process.memoryUsage.rss() - this.floor < RECLAIM_MIN_GROWTH) return;
    await this.reclaim();
  }

  /** One full GC, then malloc_trim(0); records what RSS gave back. */
  async reclaim(): Promise<{ before: number; after: number; ms: number; gcMs: number }> {
    this.running = true;
    const t0 = performance.now();
    const before = process.memoryUsage.rss();
    let gcMs = 0;
    try {
      this.gc ??= loadGc();
      this.gc();
      gcMs = performance.now() - t0;
      // The native memory of collected wrappers (the tokenizer's encodings) is freed by their finalizers, which run
      // after the GC; V8 unmaps the collected heap pages on a background thread. Both before malloc_trim.
      await new Promise((r) => setTimeout(r, 100).unref());
      if (this.trim) await this.trim();
    } catch (err) {
      this.opts.log.warn({ err }, 'memory reclaim failed');
    } finally {
      this.running = false;
    }
    const after = process.memoryUsage.rss();
    this.floor = after;
    this.reclaims.inc();
    if (before > after) this.released.inc(before - after);
    const ms = performance.now() - t0;
    this.opts.log.info(
      {
        rssBeforeMiB: Math.round(before / 2 ** 20),
        rssAfterMiB: Math.round(after / 2 ** 20),
        ms: Math.round(ms),
        gcMs: Math.round(gcMs),
      },
      'memory reclaimed after idle',
    );
    return { before, after, ms, gcMs };
  }
}
