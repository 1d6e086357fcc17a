// POST /score and /v1/score: the native body ({pairs}) and answer, or vLLM's (text_1 / text_2). Rule in ../dialect.ts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ScoreBody, ScoreResponse, VllmScoreBody, VllmScoreResponse, deadlineResponses } from '../schemas.ts';
import { VLLM_SCORE, dialectError, scoreDialect } from '../dialect.ts';
import { clientSignal, controls, nativeResult, type RouteDeps } from './deps.ts';
import { vllmScore } from './vllm.ts';

export const scoreRoute: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { engine }) => {
  for (const url of ['/score', '/v1/score']) {
    app.post(
      url,
      {
        schema: {
          summary: url === '/score' ? 'Score (query, passage) pairs (native and vLLM bodies)' : "vLLM's /v1/score (same as /score)",
          description:
            "`{pairs: [[query, passage], ...]}` → the native answer: sorted by the fp32 logit, highest first; score = softmax over the request's pairs unless `normalize` says otherwise; same truncation and chunking controls as /rerank. A body with `text_1` or `text_2` is vLLM's (VllmScoreRequest) and gets vLLM's answer `{id, object: list, created, model, data: [{index, object: score, score}], usage}` in input order, score = sigmoid(logit).",
          tags: ['rerank'],
          body: Type.Union([Type.Ref(ScoreBody), Type.Ref(VllmScoreBody)]),
          response: { 200: Type.Union([Type.Ref(ScoreResponse), Type.Ref(VllmScoreResponse)]), ...deadlineResponses },
        },
        attachValidation: true,
      },
      async (request, reply) => {
        const dialect = scoreDialect(request.body);
        if (request.validationError) throw dialectError(request.validationError, dialect);
        if (dialect === VLLM_SCORE) return vllmScore(engine, request.body as VllmScoreBody, reply);
        const body = request.body as ScoreBody;
        const pairs = body.pairs.map((p) => [p[0]!, p[1]!] as const);
        const out = await engine.score(pairs, { ...controls(body), signal: clientSignal(reply) }, 'pairs');
        return { model: engine.model.name, results: out.results.map(nativeResult), usage: { tokens: out.tokens } };
      },
    );
  }
};
