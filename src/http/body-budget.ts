// Early admission: a request with a body is admitted or refused before its body is read. The bytes of the bodies
// being read, parsed, tokenized and scored are bounded by MAX_INFLIGHT_BODY_BYTES (a body is counted at its
// Content-Length, or BODY_LIMIT when chunked, until its response is sent), and while the engine's queue is already
// full (MAX_QUEUE_PAIRS), the request is answered at once, without reading the body. A flood of
// large bodies is thus refused in milliseconds with 429 + Retry-After instead of being read and parsed first.
// One request alone is always admitted. The early-response linger (connections.ts) lets the client read the answer.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import type { Engine } from '../core/engine.ts';
import { ServiceError } from '../core/errors.ts';

const HELD = Symbol('bodyBytesHeld');

export function installBodyBudget(app: FastifyInstance, config: Config, engine: Engine): void {
  let held = 0;
  const release = (request: FastifyRequest) => {
    const r = request as FastifyRequest & { [HELD]?: number };
    if (r[HELD]) {
      held -= r[HELD]!;
      r[HELD] = 0;
      engine.reliability.heldBodyBytes.set(held);
    }
  };
  app.addHook('onRequest', async (request) => {
    if (request.method !== 'POST') return;
    const length = Number(
      request.headers['content-length'] ?? (request.headers['transfer-encoding'] ? config.bodyLimit : 0),
    );
    if (!(length > 0)) return;
    // Over BODY_LIMIT: Fastify answers 413 without reading it; not counted.
    if (length > config.bodyLimit) return;
    if (held > 0 && engine.admission.admitted >= config.maxQueuePairs) {
      engine.reliability.rejected.inc({ reason: 'overloaded' });
      throw new ServiceError(
        'overloaded',
        `server busy: the queue is full (MAX_QUEUE_PAIRS=${config.maxQueuePairs}); retry after the Retry-After seconds`,
        engine.admission.retryAfterS(),
      );
    }
    if (held > 0 && held + length > config.maxInflightBodyBytes) {
      engine.reliability.rejected.inc({ reason: 'overloaded' });
      throw new ServiceError(
        'overloaded',
        `server busy: ${held} bytes of request bodies in progress, ${length} more would pass MAX_INFLIGHT_BODY_BYTES=${config.maxInflightBodyBytes}; retry after the Retry-After seconds`,
        1,
      );
    }
    held += length;
    (request as FastifyRequest & { [HELD]?: number })[HELD] = length;
    engine.reliability.heldBodyBytes.set(held);
    // A client that goes away before its answer releases its share too.
    request.raw.once('close', () => {
      if (request.raw.destroyed && !request.raw.complete) release(request);
    });
  });
  app.addHook('onResponse', async (request) => release(request));
}
