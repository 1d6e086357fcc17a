import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ServiceError } from '../../core/errors.ts';
import { RerankBody, RerankResponse, errorResponses } from '../schemas.ts';
import { clientSignal, jsonResult, type RouteDeps } from './deps.ts';

const ALIASES = ['passages', 'documents', 'texts'] as const;

export const rerankRoute: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { engine }) => {
  app.post(
    '/rerank',
    {
      schema: {
        summary: 'Rerank passages against a query',
        description: "Sorted by logit, highest first. score = softmax over all of the request's logits; top_n cuts after sorting.",
        tags: ['rerank'],
        body: RerankBody,
        response: { 200: RerankResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const given = ALIASES.filter((f) => body[f] !== undefined);
      if (given.length === 0) throw new ServiceError('validation', 'body must have one of passages, documents or texts');
      if (given.length > 1) throw new ServiceError('validation', `body must have only one of passages, documents or texts, got ${given.join(' and ')}`);
      const field = given[0]!;
      const passages = body[field]!;
      const out = await engine.rank(body.query, passages, { topN: body.top_n, signal: clientSignal(reply) }, field);
      return {
        model: engine.model.name,
        results: out.results.map((r) => jsonResult(body.return_documents ? { ...r, document: passages[r.index]! } : r)),
        usage: { tokens: out.tokens },
      };
    },
  );
};
