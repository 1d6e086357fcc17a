// POST /rerank: the native body and answer, TEI's (texts) and vLLM's (documents + model), by the rules of
// ../dialects/index.ts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { deadlineResponses } from '../dialects/common.ts';
import { dialectError, isTeiRerank, isVllmRerank, rerankDialect } from '../dialects/index.ts';
import { RerankBody, RerankResponse, nativeRerank } from '../dialects/native.ts';
import { TeiRerankBody, TeiRerankResponse, teiRerank } from '../dialects/tei.ts';
import { VllmRerankBody, VllmRerankResponse, vllmRerank } from '../dialects/vllm.ts';
import type { RouteDeps } from '../deps.ts';

export const rerankRoute: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { engine }) => {
  app.post(
    '/rerank',
    {
      schema: {
        summary: 'Rerank passages against a query (native, TEI and vLLM bodies)',
        description:
          "The body's fields pick the dialect: `texts` → TEI's body and bare-array answer `[{index, score, text?}]` (TeiRerankRequest); else `documents` with `model` → vLLM's body and answer `{id, model, usage, results: [{index, document: {text}, relevance_score}]}` (VllmRerankRequest); else the native body (`passages`, or `documents` without `model`) and answer. Native: sorted by the fp32 logit, highest first (ties by index); score = softmax over all of the request's logits unless `normalize` says otherwise; top_n cuts after sorting; truncation control (max_tokens_per_doc, truncate) and long-passage chunking.",
        tags: ['rerank'],
        body: Type.Union([Type.Ref(RerankBody), Type.Ref(TeiRerankBody), Type.Ref(VllmRerankBody)]),
        response: {
          200: Type.Union([Type.Ref(RerankResponse), Type.Ref(TeiRerankResponse), Type.Ref(VllmRerankResponse)]),
          ...deadlineResponses,
        },
      },
      attachValidation: true,
    },
    async (request, reply) => {
      const { body } = request;
      if (request.validationError) throw dialectError(request.validationError, rerankDialect(body));
      if (isTeiRerank(body)) return teiRerank(engine, body, reply);
      if (isVllmRerank(body)) return vllmRerank(engine, body, reply);
      return nativeRerank(engine, body, reply);
    },
  );
};
