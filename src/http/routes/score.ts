// POST /score and /v1/score: the native body ({pairs}) and answer, or vLLM's (text_1 / text_2), by the rules of
// ../dialects/index.ts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { deadlineResponses } from '../dialects/common.ts';
import { dialectError, isVllmScore, scoreDialect } from '../dialects/index.ts';
import { ScoreBody, ScoreResponse, nativeScore } from '../dialects/native.ts';
import { VllmScoreBody, VllmScoreResponse, vllmScore } from '../dialects/vllm.ts';
import type { RouteDeps } from '../deps.ts';

export const scoreRoute: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { engine }) => {
  for (const url of ['/score', '/v1/score']) {
    app.post(
      url,
      {
        schema: {
          summary:
            url === '/score'
              ? 'Score (query, passage) pairs (native and vLLM bodies)'
              : "vLLM's /v1/score (same as /score)",
          description:
            "`{pairs: [[query, passage], ...]}` → the native answer: sorted by the fp32 logit, highest first; score = softmax over the request's pairs unless `normalize` says otherwise; same truncation and chunking controls as /rerank. A body with `text_1` or `text_2` is vLLM's (VllmScoreRequest) and gets vLLM's answer `{id, object: list, created, model, data: [{index, object: score, score}], usage}` in input order, score = sigmoid(logit).",
          tags: ['rerank'],
          body: Type.Union([Type.Ref(ScoreBody), Type.Ref(VllmScoreBody)]),
          response: { 200: Type.Union([Type.Ref(ScoreResponse), Type.Ref(VllmScoreResponse)]), ...deadlineResponses },
        },
        attachValidation: true,
      },
      async (request, reply) => {
        const { body } = request;
        if (request.validationError) throw dialectError(request.validationError, scoreDialect(body));
        if (isVllmScore(body)) return vllmScore(engine, body, reply);
        return nativeScore(engine, body, reply);
      },
    );
  }
};
