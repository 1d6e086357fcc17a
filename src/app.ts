// buildApp(config, engine): the Fastify instance with plugins and routes, no listen().
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Plugin } from 'ajv';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { Engine } from './core/engine.ts';
import { installErrorHandlers, methodNotAllowedInSpec } from './http/errors.ts';
import { installJsonParser } from './http/body.ts';
import { EXPLAINED_KEYWORDS, errorMessageKey, unauthorizedResponse } from './http/dialects/common.ts';
import { refSchemas, sharedSchemas } from './http/dialects/index.ts';
import { opsRoutes } from './http/routes/ops.ts';
import { cohereRoutes } from './http/routes/cohere.ts';
import { rerankRoute } from './http/routes/rerank.ts';
import { sagemakerRoutes } from './http/routes/sagemaker.ts';
import { installAuth, isPublic } from './http/auth.ts';
import { connectionOptions, installConnectionLimits } from './http/connections.ts';
import { installBodyBudget } from './http/body-budget.ts';
import { MemoryReclaimer } from './core/memory-reclaim.ts';
import { loggerOptions } from './http/log-redact.ts';
import { scoreRoute } from './http/routes/score.ts';
import { teiRoutes } from './http/routes/tei.ts';
import { SERVICE_VERSION } from './version.ts';

export interface BuildOptions {
  /** pino logger shared with the engine; defaults to one at config.logLevel. */
  logger?: Logger;
  /** Called for every route as it is registered (the auth test enumerates them with it). */
  onRoute?: (route: { method: string | string[]; url: string }) => void;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Orchestrator probes (Docker HEALTHCHECK, Kubernetes, SageMaker, Prometheus): their request logs go at debug, not
 *  info, so that a probe every few seconds does not fill the log. */
export const PROBE_PATHS: ReadonlySet<string> = new Set(['/health', '/ready', '/ping', '/metrics']);
export function isProbe(url: string | undefined): boolean {
  const path = (url ?? '').split('?', 1)[0]!;
  return PROBE_PATHS.has(path);
}

/** Never log API keys, whatever a serializer or a log call includes (src/http/log-redact.ts). */
export { REDACT } from './http/log-redact.ts';

export async function buildApp(config: Config, engine: Engine, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.logger
      ? { loggerInstance: opts.logger as FastifyBaseLogger }
      : { logger: loggerOptions(config.logLevel) }),
    bodyLimit: config.bodyLimit,
    // Probes: fastify's own "incoming request" / "request completed" (info) are off for them; the onResponse hook
    // below logs them at debug instead. Every other route keeps fastify's request logging.
    logController: new LogController({ disableRequestLogging: (req: { url?: string }) => isProbe(req.url) }),
    ...connectionOptions(config),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // verbose: each error carries its schema, whose x-error-<keyword> (an annotation) explains a refusal (errors.ts).
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, verbose: true },
      plugins: [
        ((ajv) => {
          for (const k of EXPLAINED_KEYWORDS) ajv.addKeyword({ keyword: errorMessageKey(k), schemaType: 'string' });
          return ajv;
        }) satisfies Plugin<unknown>,
      ],
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  if (opts.onRoute) app.addHook('onRoute', (r) => opts.onRoute!({ method: r.method, url: r.url }));
  // The spec says which routes need no key: the PUBLIC_ROUTES.
  app.addHook('onRoute', (r) => {
    if (!r.schema) return;
    const schema = r.schema as Record<string, unknown>;
    if (isPublic(r.url, config.publicRoutes)) schema.security = [];
    // Every route outside PUBLIC_ROUTES answers 401 when API_KEYS is set: the spec says so in one place.
    else if (schema.response) schema.response = { ...(schema.response as object), 401: unauthorizedResponse };
  });
  installErrorHandlers(app);
  installConnectionLimits(app, config);
  installAuth(app, config);
  installBodyBudget(app, config, engine);
  // After a burst of inference requests, the memory it left (freed but kept by malloc and V8) goes back to the OS.
  const reclaimer = new MemoryReclaimer({
    idleMs: config.memoryReclaimIdleMs,
    busy: () => engine.admission.active > 0 || engine.admission.admitted > 0,
    registry: engine.metrics.registry,
    log: app.log,
  });
  app.addHook('onRequest', async (request) => {
    if (request.method === 'POST') reclaimer.touch();
  });
  app.addHook('onResponse', async (request) => {
    if (request.method === 'POST') reclaimer.touch();
  });
  app.addHook('onClose', async () => reclaimer.close());
  // JSON only: a text/plain body is answered 415, not parsed as a string.
  app.removeContentTypeParser('text/plain');
  installJsonParser(app);
  for (const s of [...sharedSchemas, ...refSchemas(engine.model.maxLen)]) app.addSchema(s);

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
        { name: 'compat', description: 'Drop-in shapes: Cohere v1/v2, Jina, vLLM, TEI, SageMaker' },
        { name: 'ops', description: 'Health, readiness, info and metrics' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description:
              'Only when API_KEYS is set: `Authorization: Bearer <key>` on every route outside PUBLIC_ROUTES (401 otherwise).',
          },
        },
      },
      security: [{ bearerAuth: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    transformObject: (doc) => ('openapiObject' in doc ? methodNotAllowedInSpec(doc.openapiObject) : doc.swaggerObject),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const metrics = engine.metrics;
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-request-id', request.id);
    // Draining: close keep-alive connections after this response, so clients reconnect to another replica.
    if (engine.admission.shuttingDown) reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    if (isProbe(request.url)) {
      request.log.debug(
        {
          req: { method: request.method, url: request.url },
          res: { statusCode: reply.statusCode },
          responseTime: reply.elapsedTime,
        },
        'probe completed',
      );
    }
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.requestDuration.observe({ route }, reply.elapsedTime);
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(rerankRoute, { engine, config });
  await app.register(scoreRoute, { engine, config });
  await app.register(cohereRoutes, { engine, config });
  await app.register(teiRoutes, { engine, config });
  await app.register(sagemakerRoutes, { engine, config });
  await app.register(opsRoutes, { engine, config });
  return app;
}
