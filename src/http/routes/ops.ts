// Operational routes: liveness, readiness, info, metrics.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { StatusResponse } from '../dialects/common.ts';
import type { RouteDeps } from '../deps.ts';
import { SERVICE_VERSION } from '../../version.ts';

const InfoResponse = Type.Object(
  {
    model: Type.String(),
    model_dir: Type.String(),
    onnx_path: Type.String(),
    max_len: Type.Integer(),
    calibration: Type.Union(
      [
        Type.Object({
          method: Type.Literal('platt'),
          a: Type.Number(),
          b: Type.Number(),
          pairs: Type.Integer({ description: 'Held-out pairs the fit used.' }),
        }),
        Type.Null(),
      ],
      {
        description:
          'MODEL_DIR/calibration.json: `normalize: "calibrated"` scores P(relevant) = sigmoid(a * logit + b); null when the model has none (calibrated is refused with 422).',
      },
    ),
    query_max_share: Type.Number(),
    tokenizer: Type.String(),
    ready: Type.Boolean(),
    provider: Type.Union([Type.String(), Type.Null()]),
    provider_reason: Type.Union([Type.String(), Type.Null()], {
      description:
        'Why the CPU serves although DEVICE=auto asked for CUDA (the first thing missing, and what to install); null otherwise',
    }),
    onnx_inputs: Type.Array(Type.String()),
    batching: Type.Object({
      max_batch_tokens: Type.Integer({
        description: 'The micro-batch token budget in effect (MAX_BATCH_TOKENS, or the device default when it is 0)',
      }),
      max_batch_ms: Type.Integer({
        description: 'MAX_BATCH_MS in effect: the run-time bound of a CPU micro-batch (0: none, always 0 on CUDA)',
      }),
      batch_tokens_now: Type.Integer({
        description:
          'The token budget of the next micro-batch: max_batch_tokens, or less when max_batch_ms bounds it at the measured ms per token',
      }),
      max_batch_size: Type.Integer(),
      max_wait_ms: Type.Number(),
      max_passages: Type.Integer(),
      max_passage_chars: Type.Integer(),
      max_queue_pairs: Type.Integer(),
      request_timeout_ms: Type.Integer(),
      workers: Type.Integer(),
    }),
    versions: Type.Object({
      service: Type.String(),
      node: Type.String(),
      onnxruntime: Type.Union([Type.String(), Type.Null()]),
    }),
  },
  { $id: 'InfoResponse' },
);

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
        summary:
          'Liveness: 200 while the process can serve; 503 (failed) once inference workers could not be restarted (WORKER_MAX_RESTARTS)',
        tags: ['ops'],
        response: { 200: StatusResponse, 503: StatusResponse },
      },
    },
    async (_request, reply) =>
      engine.workerHealth()?.down ? reply.status(503).send({ status: 'failed' }) : { status: 'ok' },
  );

  app.get(
    '/ready',
    {
      schema: {
        summary:
          'Readiness: 200 once the model is loaded and warmed up, 503 before (loading) and from SIGTERM on (shutting_down)',
        tags: ['ops'],
        response: { 200: StatusResponse, 503: StatusResponse },
      },
    },
    async (_request, reply) =>
      engine.ready ? { status: 'ready' } : reply.status(503).send({ status: notReady(engine) }),
  );

  app.get(
    '/info',
    { schema: { summary: 'Model, provider, limits and versions', tags: ['ops'], response: { 200: InfoResponse } } },
    async () => {
      const info = engine.info();
      return {
        model: info.model,
        model_dir: info.modelDir,
        onnx_path: info.onnxPath,
        max_len: info.maxLen,
        calibration: info.calibration
          ? {
              method: info.calibration.method,
              a: info.calibration.a,
              b: info.calibration.b,
              pairs: info.calibration.pairs,
            }
          : null,
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
        versions: {
          service: SERVICE_VERSION,
          node: info.versions.node,
          onnxruntime: info.versions.onnxruntime ?? null,
        },
      };
    },
  );

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
