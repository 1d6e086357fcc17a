// POST /debug/fault: kills, crashes or hangs an inference worker, for the tests and the chaos runner (npm run chaos).
// Registered only with FAULT_INJECTION=1, hidden from the spec; behind API_KEYS like every non-public route.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ServiceError } from '../../core/errors.ts';
import type { RouteDeps } from './deps.ts';

const FaultBody = Type.Object(
  {
    kind: Type.Union([Type.Literal('exit'), Type.Literal('crash'), Type.Literal('hang')]),
    worker: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const debugRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { engine }) => {
  app.post('/debug/fault', { schema: { hide: true, body: FaultBody } }, async (request, reply) => {
    const { kind, worker = 0 } = request.body;
    if (!engine.injectFault(kind, worker)) throw new ServiceError('not_ready', `inference worker ${worker} is not up`);
    return reply.status(202).send({ status: 'injected', kind, worker });
  });
};
