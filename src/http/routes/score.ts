import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ServiceError } from '../../core/errors.ts';
import { ScoreBody, ScoreResponse, errorResponses } from '../schemas.ts';
import { clientSignal, controls, nativeResult, type RouteDeps } from './deps.ts';

/** Normalises both accepted shapes to [query, passage] pairs. */
export function toPairs(body: ScoreBody): [string, string][] {
  const vllm = body.text_1 !== undefined || body.text_2 !== undefined;
  if (body.pairs !== undefined && vllm) throw new ServiceError('validation', 'body must have either pairs or text_1/text_2, not both');
  if (body.pairs !== undefined) return body.pairs.map((p) => [p[0]!, p[1]!]);
  if (body.text_1 === undefined) throw new ServiceError('validation', "body must have required property 'pairs' (or 'text_1' and 'text_2')");
  if (body.text_2 === undefined) throw new ServiceError('validation', "body must have required property 'text_2'");
  const t1 = typeof body.text_1 === 'string' ? [body.text_1] : body.text_1;
  const t2 = typeof body.text_2 === 'string' ? [body.text_2] : body.text_2;
  if (t1.length === 1) return t2.map((p) => [t1[0]!, p]);
  if (t1.length !== t2.length) {
    throw new ServiceError('validation', `body/text_1 has ${t1.length} items and body/text_2 ${t2.length}: give one text_1 or as many as text_2`);
  }
  return t1.map((q, i) => [q, t2[i]!]);
}

export const scoreRoute: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { engine }) => {
  app.post(
    '/score',
    {
      schema: {
        summary: 'Score (query, passage) pairs',
        description:
          "Accepts {pairs: [[query, passage], ...]} or vLLM's {text_1, text_2}. Sorted by the fp32 logit, highest first; score = softmax over the request's pairs unless `normalize` says otherwise. Same truncation and chunking controls as /rerank.",
        tags: ['rerank'],
        body: ScoreBody,
        response: { 200: ScoreResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const pairs = toPairs(request.body as ScoreBody);
      const out = await engine.score(pairs, { ...controls(request.body as ScoreBody), signal: clientSignal(reply) }, request.body.pairs ? 'pairs' : 'text_2');
      return { model: engine.model.name, results: out.results.map(nativeResult), usage: { tokens: out.tokens } };
    },
  );
};
