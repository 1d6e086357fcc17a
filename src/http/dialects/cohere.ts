// Cohere's rerank v1 (POST /v1/rerank, also what Jina and vLLM send there) and v2 (POST /v2/rerank, also vLLM's):
// relevance_score = sigmoid(logit), Cohere's meta and billed units, vLLM's model, usage and optional fields.
import { randomUUID } from 'node:crypto';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import type { Engine, EngineResult } from '../../core/engine.ts';
import { ServiceError } from '../../core/errors.ts';
import { Query, TIMEOUT_DOC, clientSignal, refusal } from './common.ts';
import { JinaDocument, JinaModel, JinaReturnDocuments, withDocument } from './jina.ts';
import type { V1Client } from './index.ts';
import { VllmExtras, VllmUsage, activation, topN, usage } from './vllm.ts';

const CohereDocument = Type.Union(
  [
    Type.String(),
    Type.Object(
      { text: Type.Optional(Type.String()) },
      { additionalProperties: Type.String(), description: '{text} or, with rank_fields, any string fields' },
    ),
  ],
  { description: 'A string, or an object with a `text` field (or, given rank_fields, the string fields it names).' },
);

/** v2 (no rank_fields): a string or {text, ...}. */
const CohereTextDocument = Type.Union(
  [
    Type.String(),
    Type.Object(
      { text: Type.String() },
      {
        additionalProperties: Type.String(),
        description: '{text}, other string fields ignored',
        ...refusal({ required: 'must be a string or have a string field text' }),
      },
    ),
  ],
  { description: 'A string, or an object with a `text` field.' },
);

// Cohere SDKs send unset optional fields as null: optional fields here accept null (= not given).
const nullable = { nullable: true } as const;

/** The fields of both Cohere versions, with the version's documents. */
const cohereFields = <D extends TSchema>(document: D) => ({
  timeout_ms: Type.Optional(Type.Integer({ ...nullable, minimum: 1, description: TIMEOUT_DOC })),
  model: Type.Optional(
    Type.String({ ...nullable, description: 'Accepted for client compatibility; ignored (one model per server).' }),
  ),
  query: Query(),
  documents: Type.Array(document, { minItems: 1, description: 'Documents to rank.' }),
  top_n: Type.Optional(
    Type.Integer({
      ...nullable,
      minimum: 0,
      description: 'Return only the top_n most relevant (cut after sorting); 0 (vLLM) or null: all.',
    }),
  ),
  ...VllmExtras,
  max_tokens_per_doc: Type.Optional(
    Type.Integer({
      ...nullable,
      minimum: 1,
      description:
        "Cap on each document's tokens (Cohere's default is 4096); clamped to what fits in max_len with the query.",
    }),
  ),
  max_chunks_per_doc: Type.Optional(
    Type.Integer({
      ...nullable,
      minimum: 1,
      maximum: 64,
      description:
        'Opt-in chunking (Cohere v1 field; an extension on v2): split a document that does not fit into at most this many overlapping windows, score = best window.',
    }),
  ),
});

export const CohereV1Body = Type.Object(
  {
    ...cohereFields(CohereDocument),
    return_documents: JinaReturnDocuments,
    rank_fields: Type.Optional(
      Type.Array(Type.String(), {
        ...nullable,
        minItems: 1,
        description: "Object documents: rank on these fields' values, joined by newlines in this order.",
      }),
    ),
  },
  {
    $id: 'CohereV1RerankRequest',
    additionalProperties: false,
    // Without rank_fields (absent or null), each object document must have its text.
    anyOf: [
      { required: ['rank_fields'], properties: { rank_fields: { type: 'array' } } },
      {
        properties: {
          documents: {
            type: 'array',
            items: {
              anyOf: [
                { type: 'string' },
                {
                  type: 'object',
                  required: ['text'],
                  ...refusal({ required: 'must be a string or have a string field text (or give rank_fields)' }),
                },
              ],
            },
          },
        },
      },
    ],
  },
);
export type CohereV1Body = Static<typeof CohereV1Body>;

export const CohereV2Body = Type.Object(
  {
    ...cohereFields(CohereTextDocument),
    relevant_spans: Type.Optional(
      Type.Object(
        {
          mode: Type.Unsafe<'disabled'>({
            type: 'string',
            enum: ['disabled'],
            description:
              'disabled (what the Cohere SDK 7.x sends to turn it off); enabled is refused (422): this model returns no spans.',
            ...refusal({
              enum: '{value} is not supported: this model scores whole documents and returns no relevant spans; send {"mode": "disabled"} or omit relevant_spans',
            }),
          }),
          threshold: Type.Optional(Type.Number({ nullable: true })),
          max_spans: Type.Optional(Type.Integer({ nullable: true })),
        },
        {
          ...nullable,
          additionalProperties: false,
          description: 'Cohere v5 context compression. Only mode disabled is accepted.',
        },
      ),
    ),
  },
  { $id: 'CohereV2RerankRequest', additionalProperties: false },
);
export type CohereV2Body = Static<typeof CohereV2Body>;

const CohereMeta = (version: string) =>
  Type.Object({
    api_version: Type.Object({ version: Type.Literal(version) }),
    billed_units: Type.Object({
      search_units: Type.Integer({ description: 'ceil(scored (query, document or chunk) pairs / 100), at least 1.' }),
    }),
  });

const CohereResult = {
  index: Type.Integer({ description: 'Position of the document in the request.' }),
  relevance_score: Type.Number({
    description:
      'sigmoid(logit), in [0, 1] (the logit with use_activation false); results are sorted on the fp32 logits.',
  }),
};

export const CohereV1Response = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    model: JinaModel,
    results: Type.Array(Type.Object({ ...CohereResult, document: JinaDocument })),
    usage: Type.Ref(VllmUsage),
    meta: CohereMeta('1'),
  },
  { $id: 'CohereV1RerankResponse' },
);

export const CohereV2Response = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    model: Type.String({ description: 'The served model (vLLM clients read it).' }),
    results: Type.Array(
      Type.Object({
        ...CohereResult,
        document: Type.Object({ text: Type.String() }, { description: 'The ranked text (vLLM).' }),
      }),
    ),
    usage: Type.Ref(VllmUsage),
    meta: CohereMeta('2'),
  },
  { $id: 'CohereV2RerankResponse' },
);

/** A document as sent: a string, or an object of string fields. */
type Doc = string | Readonly<Record<string, string | undefined>>;

/** The text ranked for each document: a string, an object's `text`, or the rank_fields values joined by newlines. */
function documentTexts(docs: readonly Doc[], rankFields?: readonly string[]): string[] {
  return docs.map((d, i) => {
    if (typeof d === 'string') return d;
    if (rankFields) {
      const missing = rankFields.filter((f) => typeof d[f] !== 'string');
      if (missing.length > 0) {
        throw new ServiceError(
          'validation',
          `body/documents/${i} has no string field ${missing.map((f) => JSON.stringify(f)).join(', ')} named in rank_fields`,
        );
      }
      return rankFields.map((f) => d[f]!).join('\n');
    }
    if (typeof d.text !== 'string')
      throw new ServiceError(
        'validation',
        `body/documents/${i} must be a string or have a string field text (or give rank_fields)`,
      );
    return d.text;
  });
}

/** Cohere bills a search unit per query with up to 100 documents (chunks counted). */
const searchUnits = (out: EngineResult) => Math.max(1, Math.ceil(out.sequences / 100));

const chunking = (max: number | undefined) =>
  max === undefined ? undefined : { maxChunksPerDoc: max, overlapTokens: 32 };

/** Engine options shared by both Cohere versions: sigmoid scores, Cohere's per-document cap, optional chunking. */
const rankOptions = (body: CohereV1Body | CohereV2Body, reply: FastifyReply) => ({
  topN: topN(body.top_n),
  maxTokensPerDoc: body.max_tokens_per_doc ?? undefined,
  chunking: chunking(body.max_chunks_per_doc ?? undefined),
  timeoutMs: body.timeout_ms ?? undefined,
  signal: clientSignal(reply),
});

/**
 * POST /v1/rerank: Cohere v1's answer with Jina's and vLLM's fields. `client` (v1Client) picks the default of
 * return_documents: Cohere's false, Jina's true.
 */
export async function cohereV1Rerank(engine: Engine, body: CohereV1Body, reply: FastifyReply, client: V1Client) {
  const texts = documentTexts(body.documents, body.rank_fields ?? undefined);
  const returnDocuments = body.return_documents ?? client === 'jina';
  const score = activation(body);
  const out = await engine.rank(body.query, texts, rankOptions(body, reply), 'documents');
  return {
    id: randomUUID(),
    model: engine.model.name,
    results: out.results.map((r) =>
      withDocument({ index: r.index, relevance_score: score(r.logit) }, body.documents[r.index]!, returnDocuments),
    ),
    usage: usage(out.tokens),
    meta: { api_version: { version: '1' as const }, billed_units: { search_units: searchUnits(out) } },
  };
}

/** POST /v2/rerank: Cohere v2's answer with vLLM's model, usage and each result's document. */
export async function cohereV2Rerank(engine: Engine, body: CohereV2Body, reply: FastifyReply) {
  const texts = documentTexts(body.documents);
  const score = activation(body);
  const out = await engine.rank(body.query, texts, rankOptions(body, reply), 'documents');
  return {
    id: randomUUID(),
    model: engine.model.name,
    results: out.results.map((r) => ({
      index: r.index,
      relevance_score: score(r.logit),
      document: { text: texts[r.index]! },
    })),
    usage: usage(out.tokens),
    meta: { api_version: { version: '2' as const }, billed_units: { search_units: searchUnits(out) } },
  };
}
