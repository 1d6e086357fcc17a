// Cohere-compatible POST /v1/rerank (also Jina's and vLLM's) and POST /v2/rerank (also vLLM's).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  CohereV1Body,
  CohereV1Response,
  CohereV2Body,
  CohereV2Response,
  cohereV1Rerank,
  cohereV2Rerank,
} from '../dialects/cohere.ts';
import { deadlineResponses } from '../dialects/common.ts';
import { v1Client } from '../dialects/index.ts';
import type { RouteDeps } from '../deps.ts';

export const cohereRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { engine }) => {
  app.post(
    '/v1/rerank',
    {
      schema: {
        summary: 'Cohere v1, Jina and vLLM compatible rerank',
        description:
          "Cohere v1 (`cohere-ai` CohereClient), Jina (langchain_community JinaRerank) and vLLM's /v1/rerank. relevance_score = sigmoid(logit) (the logit with vLLM's use_activation false), results sorted on the fp32 logits, top_n cut after sorting (0: all, as vLLM). Each result has its `document` when return_documents is true; left out, Cohere's default (false) applies to Cohere's clients (the SDKs' X-Fern-SDK-Name / User-Agent, or a Cohere model name rerank-*) and Jina's and vLLM's (true) to the rest; `model` and `usage` for Jina and vLLM clients.",
        tags: ['compat'],
        body: CohereV1Body,
        response: { 200: CohereV1Response, ...deadlineResponses },
      },
    },
    async (request, reply) => cohereV1Rerank(engine, request.body, reply, v1Client(request.headers, request.body)),
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
    async (request, reply) => cohereV2Rerank(engine, request.body, reply),
  );
};
