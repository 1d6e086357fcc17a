// Hugging Face text-embeddings-inference (TEI): POST /predict. Its /rerank body is served on POST /rerank (rerank.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../dialects/common.ts';
import { PredictBody, PredictResponse, predict } from '../dialects/tei.ts';
import type { RouteDeps } from '../deps.ts';

export const teiRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { engine }) => {
  app.post(
    '/predict',
    {
      schema: {
        summary: "TEI's pair classification",
        description:
          "text-embeddings-inference's `POST /predict`: `{inputs: [query, passage] | [[query, passage], ...], raw_scores?, truncate?, truncation_direction?}` → `[{score, label}]` for one pair, `[[{score, label}], ...]` for a batch, in input order. score = sigmoid(logit) unless raw_scores.",
        tags: ['compat'],
        body: PredictBody,
        response: { 200: PredictResponse, ...errorResponses },
      },
    },
    async (request, reply) => predict(engine, request.body, reply),
  );
};
