import type { FastifyReply } from 'fastify';
import type { Config } from '../../config.ts';
import type { Engine } from '../../core/engine.ts';

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

/** JSON has no NaN: a non-finite logit is sent as null (it is already sorted last, with score 0). */
export function jsonResult<T extends { logit: number }>(r: T): Omit<T, 'logit'> & { logit: number | null } {
  return Number.isFinite(r.logit) ? r : { ...r, logit: null };
}
