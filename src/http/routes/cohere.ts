// Cohere-compatible POST /v1/rerank (also Jina's and vLLM's) and POST /v2/rerank (also vLLM's): relevance_score = sigmoid(logit).
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { ServiceError } from '../../core/errors.ts';
import type { EngineResult } from '../../core/engine.ts';
import { CohereV1Body, CohereV1Response, CohereV2Body, CohereV2Response, deadlineResponses } from '../schemas.ts';
import { clientSignal, type RouteDeps } from './deps.ts';
import { activation, topN, usage } from './vllm.ts';

type Doc = string | Record<string, string | undefined>;

/** The text ranked for each document: a string, an object's `text`, or the rank_fields values joined by newlines. */
export function documentTexts(docs: readonly Doc[], rankFields?: readonly string[]): string[] {
  return docs.map((d, i) => {
    if (typeof d === 'string') return d;
    if (rankFields) {
      const missing = rankFields.filter((f) => typeof d[f] !== 'string');
      if (missing.length > 0) {
        throw new ServiceError('validation', `body/documents/${i} has no string field ${missing.map((f) => JSON.stringify(f)).join(', ')} named in rank_fields`);
      }
      return rankFields.map((f) => d[f]!).join('\n');
    }
    if (typeof d.text !== 'string') throw new ServiceError('validation', `body/documents/${i} must be a string or have a string field text (or give rank_fields)`);
    return d.text;
  });
}

/** Cohere bills a search unit per query with up to 100 documents (chunks counted). */
const searchUnits = (out: EngineResult) => Math.max(1, Math.ceil(out.sequences / 100));

const chunking = (max: number | undefined) => (max === undefined ? undefined : { maxChunksPerDoc: max, overlapTokens: 32 });

/** Engine options shared by both Cohere versions: sigmoid scores, Cohere's per-document cap, optional chunking. */
const rankOptions = (body: CohereV1Body | CohereV2Body, reply: FastifyReply) => ({
  topN: topN(body.top_n),
  maxTokensPerDoc: body.max_tokens_per_doc ?? undefined,
  chunking: chunking(body.max_chunks_per_doc ?? undefined),
  timeoutMs: body.timeout_ms ?? undefined,
  signal: clientSignal(reply),
});

export const cohereRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { engine }) => {
  app.post(
    '/v1/rerank',
    {
      schema: {
        summary: 'Cohere v1, Jina and vLLM compatible rerank',
        description:
          "Cohere v1 (`cohere-ai` CohereClient), Jina (langchain_community JinaRerank) and vLLM's /v1/rerank. relevance_score = sigmoid(logit) (the logit with vLLM's use_activation false), results sorted on the fp32 logits, top_n cut after sorting (0: all, as vLLM). Each result has its `document` unless return_documents is false (Jina and vLLM return them by default); `model` and `usage` for Jina and vLLM clients.",
        tags: ['compat'],
        body: CohereV1Body,
        response: { 200: CohereV1Response, ...deadlineResponses },
      },
    },
    async (request, reply) => {
      const body = request.body as CohereV1Body;
      const texts = documentTexts(body.documents as Doc[], body.rank_fields ?? undefined);
      const score = activation(body);
      const out = await engine.rank(body.query, texts, rankOptions(body, reply), 'documents');
      return {
        id: randomUUID(),
        model: engine.model.name,
        results: out.results.map((r) => {
          const item = { index: r.index, relevance_score: score(r.logit) };
          if (body.return_documents === false) return item;
          const doc = body.documents[r.index]!;
          return { ...item, document: typeof doc === 'string' ? { text: doc } : doc };
        }),
        usage: usage(out.tokens),
        meta: { api_version: { version: '1' as const }, billed_units: { search_units: searchUnits(out) } },
      };
    },
  );

  app.post(
    '/v2/rerank',
    {
      schema: {
        summary: 'Cohere v2 and vLLM compatible rerank',
        description:
          "`cohere-ai` CohereClientV2 (5.x to 8.x, Python and JS; relevant_spans mode disabled accepted) and vLLM's /v2/rerank: the answer is Cohere's `{id, results, meta}` plus vLLM's `model`, `usage` and `results[].document`. relevance_score = sigmoid(logit) (the logit with use_activation false), results sorted on the fp32 logits, top_n cut after sorting (0: all). max_tokens_per_doc caps each document (clamped to what fits); max_chunks_per_doc (extension) turns on chunking.",
        tags: ['compat'],
        body: CohereV2Body,
        response: { 200: CohereV2Response, ...deadlineResponses },
      },
    },
    async (request, reply) => {
      const body = request.body as CohereV2Body;
      const texts = documentTexts(body.documents as Doc[]);
      const score = activation(body);
      const out = await engine.rank(body.query, texts, rankOptions(body, reply), 'documents');
      return {
        id: randomUUID(),
        model: engine.model.name,
        results: out.results.map((r) => ({ index: r.index, relevance_score: score(r.logit), document: { text: texts[r.index]! } })),
        usage: usage(out.tokens),
        meta: { api_version: { version: '2' as const }, billed_units: { search_units: searchUnits(out) } },
      };
    },
  );
};
