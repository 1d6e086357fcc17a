// Fault injection for the tests and the chaos runner, kept out of the production server and worker: the ONNX pool runs
// test/helpers/fault-worker.mjs (the production worker plus a fault handler), and POST /debug/fault sends it a fault.
// Hidden from the spec; behind API_KEYS like every non-public route.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ServiceError } from '../../src/core/errors.ts';
import type { ComposeOptions } from '../../src/compose.ts';
import type { OnnxBackend } from '../../src/backend/onnx.ts';

/**
 * Exit the thread (code 3), throw an uncaught error, hang the thread in its next run as a hung session.run would
 * (hang), or hang it at once while idle (hang-idle); a hang is a busy loop in the worker's event loop.
 */
export type FaultKind = 'exit' | 'crash' | 'hang' | 'hang-idle';
export interface FaultMessage {
  type: 'fault';
  kind: FaultKind;
}

const FaultBody = Type.Object(
  {
    kind: Type.Union([Type.Literal('exit'), Type.Literal('crash'), Type.Literal('hang'), Type.Literal('hang-idle')]),
    worker: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export interface Faults {
  /** Compose options that run the fault-taking worker and keep hold of the pool. */
  compose: Pick<ComposeOptions, 'workerUrl' | 'onPool'>;
  /** Sends a fault to worker `index`; false when it is not up. */
  inject(kind: FaultKind, index?: number): boolean;
  /** Adds POST /debug/fault to an app (before it listens). */
  route(app: FastifyInstance): Promise<void>;
}

export function faultInjection(): Faults {
  let pool: OnnxBackend | undefined;
  const inject = (kind: FaultKind, index = 0) => {
    const thread = pool?.thread(index);
    if (!thread) return false;
    thread.postMessage({ type: 'fault', kind } satisfies FaultMessage);
    return true;
  };
  return {
    compose: { workerUrl: new URL('./fault-worker.mjs', import.meta.url), onPool: (p) => (pool = p) },
    inject,
    async route(app) {
      app
        .withTypeProvider<TypeBoxTypeProvider>()
        .post('/debug/fault', { schema: { hide: true, body: FaultBody } }, async (request, reply) => {
          const { kind, worker = 0 } = request.body;
          if (!inject(kind, worker)) throw new ServiceError('not_ready', `inference worker ${worker} is not up`);
          return reply.status(202).send({ status: 'injected', kind, worker });
        });
    },
  };
}
