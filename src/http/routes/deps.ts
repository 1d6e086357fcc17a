import type { FastifyReply } from 'fastify';
import type { Config } from '../../config.ts';
import type { Engine, Normalize, RankOptions, ScoredItem } from '../../core/engine.ts';

export interface RouteDeps {
  engine: Engine;
  config: Config;
}

/** Aborts when the client goes away before the response is written, so queued pairs are dropped. */
export function clientSignal(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableEnded) ac.abort();
  });
  return ac.signal;
}

/** An engine result item in the native response shape. */
export function nativeResult(r: ScoredItem) {
  const { bestChunk, ...rest } = r;
  return r.chunks > 1 ? { ...rest, best_chunk: bestChunk } : rest;
}

/** The engine options of the native controls. */
export function controls(body: { timeout_ms?: number; normalize?: Normalize; max_tokens_per_doc?: number; truncate?: boolean; chunking?: { max_chunks_per_doc?: number; overlap_tokens?: number } }): RankOptions {
  return {
    timeoutMs: body.timeout_ms,
    normalize: body.normalize,
    maxTokensPerDoc: body.max_tokens_per_doc,
    truncate: body.truncate,
    chunking: body.chunking ? { maxChunksPerDoc: body.chunking.max_chunks_per_doc ?? 8, overlapTokens: body.chunking.overlap_tokens ?? 32 } : undefined,
  };
}
