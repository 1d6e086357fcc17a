// buildApp(config, engine): the Fastify instance with plugins and routes, no listen().
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { Engine } from './core/engine.ts';
import { installErrorHandlers } from './http/errors.ts';
import { sharedSchemas } from './http/schemas.ts';
import { opsRoutes } from './http/routes/ops.ts';
import { rerankRoute } from './http/routes/rerank.ts';
import { scoreRoute } from './http/routes/score.ts';
import { SERVICE_VERSION } from './version.ts';

export interface BuildOptions {
  /** pino logger shared with the engine; defaults to one at config.logLevel. */
  logger?: Logger;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

export async function buildApp(config: Config, engine: Engine, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger as FastifyBaseLogger } : { logger: { level: config.logLevel } }),
    bodyLimit: config.bodyLimit,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  installErrorHandlers(app);
  // JSON only: a text/plain body is answered 415, not parsed as a string.
  app.removeContentTypeParser('text/plain');
  for (const s of sharedSchemas) app.addSchema(s);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'ko-rerank',
        version: SERVICE_VERSION,
        description:
          'Reranking service for Korean RAG: a cross-encoder (XLM-R) served with onnxruntime-node. Errors: `{error: {type, message}}`.',
      },
      tags: [
        { name: 'rerank', description: 'Scoring' },
        { name: 'ops', description: 'Health, readiness, info and metrics' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const metrics = engine.metrics;
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-request-id', request.id);
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.requestDuration.observe({ route }, reply.elapsedTime);
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(rerankRoute, { engine, config });
  await app.register(scoreRoute, { engine, config });
  await app.register(opsRoutes, { engine, config });
  return app;
}
