// SageMaker container contract: GET /ping, POST /invocations with the Hugging Face inference toolkit payload or the
// native /rerank body (the rule is in ../dialects/index.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { StatusResponse, deadlineResponses, errorResponses } from '../dialects/common.ts';
import { invocationsError, isToolkitPayload } from '../dialects/index.ts';
import { RerankBody, RerankResponse } from '../dialects/native.ts';
import { InvocationsBody, InvocationsResponse, invocations, nativeInvocation, ping } from '../dialects/sagemaker.ts';
import type { RouteDeps } from '../deps.ts';

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
    async (_request, reply) => ping(engine, reply),
  );

  app.post(
    '/invocations',
    {
      schema: {
        summary: 'SageMaker inference: the Hugging Face toolkit payload, or the native /rerank body',
        description:
          'As the Hugging Face inference toolkit serves this model with transformers\' TextClassificationPipeline: `{"inputs": [{"text": query, "text_pair": passage}, ...]}` → `[{"label": "LABEL_0", "score": ...}]` in input order; one `{text, text_pair}` → one `{label, score}`. parameters: function_to_apply (sigmoid default, none, softmax), top_k (lists of labels), truncation / max_length / padding (tokenizer options), timeout_ms. `Accept: text/csv` answers `label,score` rows; other Accept types 406. A body with `query` is answered as POST /rerank.',
        tags: ['compat'],
        body: Type.Union([Type.Ref(InvocationsBody), Type.Ref(RerankBody)]),
        response: {
          200: {
            content: {
              'application/json': { schema: Type.Union([InvocationsResponse, Type.Ref(RerankResponse)]) },
              'text/csv': {
                schema: Type.String({
                  description: 'label,score header, then one row per input (toolkit answers only).',
                }),
              },
            },
          },
          406: errorResponses[400],
          ...deadlineResponses,
        },
      },
      schemaErrorFormatter: (errors, context) => invocationsError(errors, context),
    },
    async (request, reply) => {
      const { body } = request;
      if (isToolkitPayload(body)) return invocations(engine, body, request, reply);
      return nativeInvocation(engine, body, request, reply);
    },
  );
};
