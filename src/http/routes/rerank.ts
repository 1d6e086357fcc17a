import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Engine } from '../../core/engine.ts';
import { ServiceError } from '../../core/errors.ts';
import { RerankBody, RerankResponse, errorResponses } from '../schemas.ts';
import { clientSignal, controls, nativeResult, type RouteDeps } from './deps.ts';
import type { FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';

const ALIASES = ['passages', 'documents', 'texts'] as const;

/** The native /rerank answer (also /invocations with the native body). */
export async function rerank(engine: Engine, body: RerankBody, reply: FastifyReply) {
  const given = ALIASES.filter((f) => body[f] !== undefined);
  if (given.length === 0) throw new ServiceError('validation', 'body must have one of passages, documents or texts');
  if (given.length > 1) throw new ServiceError('validation', `body must have only one of passages, documents or texts, got ${given.join(' and ')}`);
  const field = given[0]!;
  const passages = body[field]!;
  const out = await engine.rank(body.query, passages, { ...controls(body), topN: body.top_n, signal: clientSignal(reply) }, field);
  return {
    model: engine.model.name,
    results: out.results.map((r) => {
      const item = nativeResult(r);
      return body.return_documents ? { ...item, document: passages[r.index]! } : item;
    }),
    usage: { tokens: out.tokens },
  };
}

export const rerankRoute: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { engine }) => {
  app.post(
    '/rerank',
    {
      schema: {
        summary: 'Rerank passages against a query',
        description:
          "Sorted by the fp32 logit, highest first (ties by index). score = softmax over all of the request's logits unless `normalize` says otherwise; top_n cuts after sorting. Optional truncation control (max_tokens_per_doc, truncate) and long-passage chunking.",
        tags: ['rerank'],
        body: Type.Ref(RerankBody),
        response: { 200: Type.Ref(RerankResponse), ...errorResponses },
      },
    },
    async (request, reply) => rerank(engine, request.body as RerankBody, reply),
  );
};
