// Operational routes: liveness, readiness, info, metrics.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { InfoResponse, StatusResponse } from '../schemas.ts';
import type { RouteDeps } from './deps.ts';
import { SERVICE_VERSION } from '../../version.ts';

/** Why /ready is 503: shutting_down, failed (workers could not be restarted), restarting (none up now) or loading. */
function notReady(engine: RouteDeps['engine']): string {
  if (engine.admission.shuttingDown) return 'shutting_down';
  const h = engine.workerHealth();
  if (h?.down) return 'failed';
  if (h && h.up === 0) return 'restarting';
  return 'loading';
}

export const opsRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { engine, config }) => {
  app.get(
    '/health',
    {
      schema: {
        summary: 'Liveness: 200 while the process can serve; 503 (failed) once inference workers could not be restarted (WORKER_MAX_RESTARTS)',
        tags: ['ops'],
        response: { 200: StatusResponse, 503: StatusResponse },
      },
    },
    async (_request, reply) => (engine.workerHealth()?.down ? reply.status(503).send({ status: 'failed' }) : { status: 'ok' }),
  );

  app.get(
    '/ready',
    {
      schema: {
        summary: 'Readiness: 200 once the model is loaded and warmed up, 503 before (loading) and from SIGTERM on (shutting_down)',
        tags: ['ops'],
        response: { 200: StatusResponse, 503: StatusResponse },
      },
    },
    async (_request, reply) => (engine.ready ? { status: 'ready' } : reply.status(503).send({ status: notReady(engine) })),
  );

  app.get('/info', { schema: { summary: 'Model, provider, limits and versions', tags: ['ops'], response: { 200: InfoResponse } } }, async () => {
    const info = engine.info();
    return {
      model: info.model,
      model_dir: info.modelDir,
      onnx_path: info.onnxPath,
      max_len: info.maxLen,
      query_max_share: info.queryMaxShare,
      tokenizer: info.tokenizer,
      ready: info.ready,
      provider: info.backend?.provider ?? null,
      provider_reason: info.backend?.fallbackReason ?? null,
      onnx_inputs: info.backend?.inputNames ?? [],
      batching: {
        max_batch_tokens: info.maxBatchTokens,
        max_batch_ms: info.maxBatchMs,
        batch_tokens_now: info.batchTokensNow,
        max_batch_size: config.maxBatchSize,
        max_wait_ms: config.maxWaitMs,
        max_passages: config.maxPassages,
        max_passage_chars: config.maxPassageChars,
        max_queue_pairs: config.maxQueuePairs,
        request_timeout_ms: config.requestTimeoutMs,
        workers: config.workers,
      },
      versions: { service: SERVICE_VERSION, node: info.versions.node, onnxruntime: info.versions.onnxruntime ?? null },
    };
  });

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        tags: ['ops'],
        produces: ['text/plain'],
        response: { 200: { type: 'string', description: 'Prometheus text exposition format' } },
      },
    },
    async (_request, reply) => {
      const registry = engine.metrics.registry;
      const body = await registry.metrics();
      return reply.type(registry.contentType).send(body);
    },
  );
};
