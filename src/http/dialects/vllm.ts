// vLLM's score and rerank APIs (POST /score, /v1/score with text_1/text_2; POST /rerank with documents + model) and
// its optional fields, which the Cohere routes take too. relevance_score / score = sigmoid(logit) unless
// use_activation is false.
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import type { Engine } from '../../core/engine.ts';
import { ServiceError } from '../../core/errors.ts';
import { sigmoid } from '../../core/scores.ts';
import { Passages, Query, TIMEOUT_DOC, clientSignal, refusal } from './common.ts';

const TRUNCATE_PROMPT_TOKENS =
  "{value} is not supported: every pair is cut to the model's max_len (GET /info) with the query kept whole and the passage cut, which is truncate_prompt_tokens -1; send -1 or omit it (max_tokens_per_doc on /rerank, /v1/rerank or /v2/rerank caps each passage's tokens)";

export const VllmExtras = {
  user: Type.Optional(Type.String({ nullable: true, description: 'Accepted for client compatibility; ignored.' })),
  priority: Type.Optional(
    Type.Integer({
      nullable: true,
      description: 'Accepted and ignored: requests are served first come, first served (no priority scheduling).',
    }),
  ),
  truncate_prompt_tokens: Type.Optional(
    Type.Integer({
      nullable: true,
      minimum: -1,
      maximum: -1,
      description:
        "-1 or null: cut each pair to the model's max_len, which is what this server always does (the query kept whole, the passage cut). Any other value is refused (422): the server does not cut to a given total; cap the passage with max_tokens_per_doc instead.",
      ...refusal({
        minimum: TRUNCATE_PROMPT_TOKENS,
        maximum: TRUNCATE_PROMPT_TOKENS,
      }),
    }),
  ),
  use_activation: Type.Optional(
    Type.Boolean({
      nullable: true,
      description: 'true or null (default): score = sigmoid(logit); false: score = the raw logit.',
    }),
  ),
};

export const VllmUsage = Type.Object(
  {
    prompt_tokens: Type.Integer({
      description: 'Tokens fed to the model (special tokens included, padding excluded).',
    }),
    total_tokens: Type.Integer({ description: 'Same as prompt_tokens (nothing is generated).' }),
  },
  { $id: 'VllmUsage' },
);

const TextOrTexts = (description: string) =>
  Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })], { description });

export const VllmScoreBody = Type.Object(
  {
    model: Type.Optional(
      Type.String({
        nullable: true,
        description: 'Accepted for client compatibility; ignored (one model per server).',
      }),
    ),
    text_1: TextOrTexts(
      'The query, or a one-item list applied to every text_2 item (1:N), or one query per text_2 item (N:N).',
    ),
    text_2: TextOrTexts('The passages.'),
    ...VllmExtras,
    timeout_ms: Type.Optional(Type.Integer({ nullable: true, minimum: 1, description: TIMEOUT_DOC })),
  },
  {
    $id: 'VllmScoreRequest',
    additionalProperties: false,
    description: "vLLM's score API body (POST /score or /v1/score with text_1 / text_2).",
  },
);
export type VllmScoreBody = Static<typeof VllmScoreBody>;

export const VllmScoreResponse = Type.Object(
  {
    id: Type.String({ description: 'score-<uuid>' }),
    object: Type.Literal('list'),
    created: Type.Integer({ description: 'Unix time in seconds.' }),
    model: Type.String(),
    data: Type.Array(
      Type.Object({
        index: Type.Integer({ description: 'Position of the pair; data is in input order (not sorted).' }),
        object: Type.Literal('score'),
        score: Type.Number({ description: 'sigmoid(logit); the logit with use_activation false.' }),
      }),
    ),
    usage: Type.Object({
      prompt_tokens: Type.Integer(),
      total_tokens: Type.Integer(),
      completion_tokens: Type.Integer({ description: 'Always 0.' }),
    }),
  },
  { $id: 'VllmScoreResponse' },
);

export const VllmRerankBody = Type.Object(
  {
    model: Type.String({
      nullable: true,
      description:
        "Accepted and ignored (one model per server); on POST /rerank its presence with documents marks the body as vLLM's.",
    }),
    query: Query(),
    documents: Passages('Documents to rank.'),
    top_n: Type.Optional(
      Type.Integer({
        nullable: true,
        minimum: 0,
        description: 'Return only the top_n best (cut after sorting); 0 or null (default): all.',
      }),
    ),
    ...VllmExtras,
    timeout_ms: Type.Optional(Type.Integer({ nullable: true, minimum: 1, description: TIMEOUT_DOC })),
  },
  {
    $id: 'VllmRerankRequest',
    additionalProperties: false,
    description: "vLLM's rerank API body (POST /rerank with documents and model).",
  },
);
export type VllmRerankBody = Static<typeof VllmRerankBody>;

export const VllmRerankResponse = Type.Object(
  {
    id: Type.String({ description: 'rerank-<uuid>' }),
    model: Type.String(),
    usage: Type.Ref(VllmUsage),
    results: Type.Array(
      Type.Object({
        index: Type.Integer({ description: 'Position of the document in the request.' }),
        document: Type.Object({ text: Type.String() }),
        relevance_score: Type.Number({
          description: 'sigmoid(logit); the logit with use_activation false. Sorted on the fp32 logits.',
        }),
      }),
    ),
  },
  { $id: 'VllmRerankResponse' },
);

interface VllmFields {
  truncate_prompt_tokens?: number | null;
  use_activation?: boolean | null;
}

/**
 * The score function vLLM's fields ask for. truncate_prompt_tokens is -1 or null here: the schema refuses any other
 * value, saying why (every pair is cut to max_len, which is -1).
 */
export function activation(body: VllmFields): (logit: number) => number {
  return body.use_activation === false ? (logit) => logit : sigmoid;
}

/** top_n as vLLM reads it: 0 or null means all. */
export const topN = (n: number | null | undefined) => (n === undefined || n === null || n === 0 ? undefined : n);

export const usage = (tokens: number) => ({ prompt_tokens: tokens, total_tokens: tokens });

/** POST /rerank with documents + model: vLLM's RerankResponse. */
export async function vllmRerank(engine: Engine, body: VllmRerankBody, reply: FastifyReply) {
  const score = activation(body);
  const out = await engine.rank(
    body.query,
    body.documents,
    { topN: topN(body.top_n), timeoutMs: body.timeout_ms ?? undefined, signal: clientSignal(reply) },
    'documents',
  );
  return {
    id: `rerank-${randomUUID()}`,
    model: engine.model.name,
    usage: usage(out.tokens),
    results: out.results.map((r) => ({
      index: r.index,
      document: { text: body.documents[r.index]! },
      relevance_score: score(r.logit),
    })),
  };
}

/** text_1 / text_2 as [query, passage] pairs: 1:1, 1:N (a string or one-item list) or N:N. */
function vllmPairs(body: VllmScoreBody): [string, string][] {
  const t1 = typeof body.text_1 === 'string' ? [body.text_1] : body.text_1;
  const t2 = typeof body.text_2 === 'string' ? [body.text_2] : body.text_2;
  if (t1.length === 1) return t2.map((p) => [t1[0]!, p]);
  if (t1.length !== t2.length) {
    throw new ServiceError(
      'validation',
      `body/text_1 has ${t1.length} items and body/text_2 ${t2.length}: give one text_1 or as many as text_2`,
    );
  }
  return t1.map((q, i) => [q, t2[i]!]);
}

/** POST /score or /v1/score with text_1 / text_2: vLLM's ScoreResponse, data in input order. */
export async function vllmScore(engine: Engine, body: VllmScoreBody, reply: FastifyReply) {
  const score = activation(body);
  const pairs = vllmPairs(body);
  const out = await engine.score(
    pairs,
    { timeoutMs: body.timeout_ms ?? undefined, signal: clientSignal(reply) },
    'text_2',
  );
  const data = new Array<{ index: number; object: 'score'; score: number }>(pairs.length);
  for (const r of out.results) data[r.index] = { index: r.index, object: 'score', score: score(r.logit) };
  return {
    id: `score-${randomUUID()}`,
    object: 'list' as const,
    created: Math.floor(Date.now() / 1000),
    model: engine.model.name,
    data,
    usage: { ...usage(out.tokens), completion_tokens: 0 },
  };
}
