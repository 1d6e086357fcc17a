// SageMaker container contract: GET /ping, POST /invocations (the HF inference toolkit payload, or the native body).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ServiceError } from '../../core/errors.ts';
import { validationMessage } from '../errors.ts';
import { InvocationsBody, InvocationsResponse, RerankBody, RerankResponse, StatusResponse, errorResponses } from '../schemas.ts';
import { clientSignal, type RouteDeps } from './deps.ts';
import { rerank } from './rerank.ts';

interface SchemaError {
  instancePath?: string;
  schemaPath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/**
 * The body is either shape (anyOf): report the error of the shape the body meant, the toolkit's when it has
 * `inputs`, else the native one's.
 */
function invocationsError(errors: SchemaError[], context: string): ServiceError {
  const noInputs = errors.some((e) => e.keyword === 'required' && e.instancePath === '' && e.params?.missingProperty === 'inputs');
  const branch = errors.filter((e) => e.keyword !== 'anyOf' && (noInputs ? !e.schemaPath?.startsWith('InvocationsRequest') : e.schemaPath?.startsWith('InvocationsRequest')));
  return new ServiceError('validation', validationMessage(branch[0] ?? errors[0]!, context));
}

export const sagemakerRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { engine }) => {
  app.get(
    '/ping',
    {
      schema: {
        summary: 'SageMaker health check: 200 once the model is loaded, 503 before',
        tags: ['compat'],
        response: { 200: StatusResponse, 503: StatusResponse },
      },
    },
    async (_request, reply) => (engine.ready ? { status: 'ready' } : reply.status(503).send({ status: engine.admission.shuttingDown ? 'shutting_down' : 'loading' })),
  );

  app.post(
    '/invocations',
    {
      schema: {
        summary: 'SageMaker inference: the Hugging Face toolkit payload, or the native /rerank body',
        description:
          '`{"inputs": [{"text": query, "text_pair": passage}, ...], "parameters": {"function_to_apply": "sigmoid"|"none"}}` → `[{"label": "LABEL_0", "score": ...}]` in input order. A body with `query` is answered as POST /rerank.',
        tags: ['compat'],
        body: Type.Union([Type.Ref(InvocationsBody), Type.Ref(RerankBody)]),
        response: { 200: Type.Union([Type.Ref(InvocationsResponse), Type.Ref(RerankResponse)]), ...errorResponses },
      },
      schemaErrorFormatter: (errors, context) => invocationsError(errors as SchemaError[], context),
    },
    async (request, reply) => {
      const body = request.body as InvocationsBody | RerankBody;
      if (!('inputs' in body)) return rerank(engine, body, reply);
      const fn = body.parameters?.function_to_apply ?? 'sigmoid';
      const out = await engine.score(
        body.inputs.map((p) => [p.text, p.text_pair] as const),
        { normalize: fn, truncate: body.parameters?.truncation, timeoutMs: body.parameters?.timeout_ms, signal: clientSignal(reply) },
        'inputs',
      );
      const scores = new Array<number>(body.inputs.length);
      for (const r of out.results) scores[r.index] = r.score;
      return scores.map((score) => ({ label: 'LABEL_0', score }));
    },
  );
};
