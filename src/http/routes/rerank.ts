// POST /rerank: the native body and answer, TEI's (texts) and vLLM's (documents + model). The rule is in ../dialect.ts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Engine } from '../../core/engine.ts';
import { RerankBody, RerankResponse, TeiRerankBody, TeiRerankResponse, VllmRerankBody, VllmRerankResponse, deadlineResponses } from '../schemas.ts';
import { TEI_RERANK, VLLM_RERANK, dialectError, rerankDialect } from '../dialect.ts';
import { clientSignal, controls, nativeResult, type RouteDeps } from './deps.ts';
import type { FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import { teiRerank } from './tei.ts';
import { vllmRerank } from './vllm.ts';

/** The native /rerank answer (also /invocations with the native body). The schema let exactly one name through. */
export async function rerank(engine: Engine, body: RerankBody, reply: FastifyReply) {
  const field = body.passages !== undefined ? 'passages' : 'documents';
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
        summary: 'Rerank passages against a query (native, TEI and vLLM bodies)',
        description:
          "The body's fields pick the dialect: `texts` → TEI's body and bare-array answer `[{index, score, text?}]` (TeiRerankRequest); else `documents` with `model` → vLLM's body and answer `{id, model, usage, results: [{index, document: {text}, relevance_score}]}` (VllmRerankRequest); else the native body (`passages`, or `documents` without `model`) and answer. Native: sorted by the fp32 logit, highest first (ties by index); score = softmax over all of the request's logits unless `normalize` says otherwise; top_n cuts after sorting; truncation control (max_tokens_per_doc, truncate) and long-passage chunking.",
        tags: ['rerank'],
        body: Type.Union([Type.Ref(RerankBody), Type.Ref(TeiRerankBody), Type.Ref(VllmRerankBody)]),
        response: { 200: Type.Union([Type.Ref(RerankResponse), Type.Ref(TeiRerankResponse), Type.Ref(VllmRerankResponse)]), ...deadlineResponses },
      },
      attachValidation: true,
    },
    async (request, reply) => {
      const dialect = rerankDialect(request.body);
      if (request.validationError) throw dialectError(request.validationError, dialect);
      if (dialect === TEI_RERANK) return teiRerank(engine, request.body as TeiRerankBody, reply);
      if (dialect === VLLM_RERANK) return vllmRerank(engine, request.body as VllmRerankBody, reply);
      return rerank(engine, request.body as RerankBody, reply);
    },
  );
};
