// The native dialect: POST /rerank ({query, passages}) and POST /score ({pairs}), with the truncation, normalization,
// chunking and deadline controls; answers sorted on the fp32 logits with `logit`, `score` and `usage.tokens`.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import type { Engine, RankOptions, ScoredItem } from '../../core/engine.ts';
import { Passages, Query, TimeoutMs, clientSignal, refusal } from './common.ts';

const NormalizeField = Type.Unsafe<'softmax' | 'sigmoid' | 'none' | 'calibrated'>({
  type: 'string',
  enum: ['softmax', 'sigmoid', 'none', 'calibrated'],
  description:
    "How `score` is computed from the logit: softmax (default) over all of the request's logits (exp_normalize), sigmoid of each logit, none (score = logit), or calibrated: the probability that the passage is relevant, from the model's calibration.json (Platt scaling fitted on held-out pairs by `ko-rerank calibrate` or `ko-rerank finetune`; 422 when the model has none). Results are always sorted on the fp32 logits.",
});

const MaxTokensPerDoc = Type.Integer({
  minimum: 1,
  description:
    'Cap on the tokens of each passage (one window, when chunking); clamped to what fits in max_len with the query.',
});

const Truncate = Type.Boolean({
  description:
    'Default true. false: answer 422, listing the indexes of the passages that do not fit (or naming a query over QUERY_MAX_SHARE of max_len), instead of cutting them.',
});

export const Chunking = Type.Object(
  {
    max_chunks_per_doc: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 64,
        description:
          'Most windows per passage (default 8); tokens past the last window are not scored (truncated: true).',
      }),
    ),
    overlap_tokens: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'Tokens shared by consecutive windows (default 32; at most half a window).',
      }),
    ),
  },
  {
    $id: 'Chunking',
    additionalProperties: false,
    description:
      "Opt-in long-passage chunking: a passage that does not fit is split into overlapping token windows, each scored with the query in the same batches as the other pairs; the passage's logit is its best window's. The (query, window) pairs of a request are capped by MAX_CHUNKED_PAIRS (413).",
  },
);

const Controls = {
  timeout_ms: Type.Optional(TimeoutMs),
  normalize: Type.Optional(NormalizeField),
  max_tokens_per_doc: Type.Optional(MaxTokensPerDoc),
  truncate: Type.Optional(Truncate),
  chunking: Type.Optional(Type.Ref(Chunking)),
};

export const RerankBody = Type.Object(
  {
    query: Query(),
    passages: Type.Optional(Passages('Passages to rank against the query.')),
    documents: Type.Optional(
      Passages("Alias of passages, without `model` (with `model` the body is vLLM's: VllmRerankRequest)."),
    ),
    top_n: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Return only the top_n best results (cut after sorting).' }),
    ),
    return_documents: Type.Optional(
      Type.Boolean({ description: 'Include each passage text as `document` (default false).' }),
    ),
    model: Type.Optional(
      Type.String({ description: 'Accepted for client compatibility; ignored (one model per server).' }),
    ),
    ...Controls,
  },
  {
    $id: 'RerankRequest',
    additionalProperties: false,
    // Exactly one of the two names; documents + model is vLLM's body (VllmRerankRequest), never the native one, so
    // the shapes do not overlap.
    oneOf: [{ required: ['passages'] }, { required: ['documents'] }],
    not: { required: ['documents', 'model'] },
    ...refusal({ oneOf: 'must have exactly one of passages or documents' }),
    description: 'The native body: give exactly one of passages or documents (documents without model).',
  },
);
export type RerankBody = Static<typeof RerankBody>;

const ResultFields = {
  index: Type.Integer({ description: 'Position of the passage (or pair) in the request.' }),
  logit: Type.Number({ description: 'Raw model logit (fp32); results are sorted on it, highest first.' }),
  score: Type.Number({
    description:
      "The logit as `normalize` asks: softmax over all of the request's logits (default), sigmoid, the logit itself, or the calibrated probability of relevance.",
  }),
  truncated: Type.Boolean({
    description:
      'Some of the passage was not scored: cut to fit max_len or max_tokens_per_doc (the query is kept whole), or past the last chunk.',
  }),
  chunks: Type.Integer({ description: 'Windows scored for this passage: 1 unless chunking split it.' }),
  best_chunk: Type.Optional(
    Type.Integer({ description: "Chunked passages only: the 0-based window whose logit is the passage's (the max)." }),
  ),
};

export const Usage = Type.Object(
  { tokens: Type.Integer({ description: 'Tokens fed to the model (special tokens included, padding excluded).' }) },
  { $id: 'Usage' },
);

export const RerankResponse = Type.Object(
  {
    model: Type.String(),
    results: Type.Array(
      Type.Object({
        ...ResultFields,
        document: Type.Optional(Type.String({ description: 'The passage, when return_documents is true.' })),
      }),
    ),
    usage: Type.Ref(Usage),
  },
  { $id: 'RerankResponse' },
);

export const ScoreBody = Type.Object(
  {
    pairs: Type.Array(Type.Array(Type.String(), { minItems: 2, maxItems: 2, description: '[query, passage]' }), {
      minItems: 1,
      description: 'Pairs to score: [[query, passage], ...].',
    }),
    model: Type.Optional(Type.String({ description: 'Accepted for client compatibility; ignored.' })),
    ...Controls,
  },
  {
    $id: 'ScoreRequest',
    additionalProperties: false,
    description: "The native body; a body with text_1 or text_2 is vLLM's (VllmScoreRequest).",
  },
);
export type ScoreBody = Static<typeof ScoreBody>;

export const ScoreResponse = Type.Object(
  {
    model: Type.String(),
    results: Type.Array(Type.Object(ResultFields)),
    usage: Type.Ref(Usage),
  },
  { $id: 'ScoreResponse' },
);

/** An engine result item in the native response shape. */
function nativeResult(r: ScoredItem) {
  const { bestChunk, ...rest } = r;
  return r.chunks > 1 ? { ...rest, best_chunk: bestChunk } : rest;
}

/** The engine options of the native controls. */
function controls(body: RerankBody | ScoreBody): RankOptions {
  return {
    timeoutMs: body.timeout_ms,
    normalize: body.normalize,
    maxTokensPerDoc: body.max_tokens_per_doc,
    truncate: body.truncate,
    chunking: body.chunking
      ? { maxChunksPerDoc: body.chunking.max_chunks_per_doc ?? 8, overlapTokens: body.chunking.overlap_tokens ?? 32 }
      : undefined,
  };
}

/** The native /rerank answer (also /invocations with the native body). The schema let exactly one name through. */
export async function nativeRerank(engine: Engine, body: RerankBody, reply: FastifyReply) {
  const field = body.passages !== undefined ? 'passages' : 'documents';
  const passages = body[field]!;
  const out = await engine.rank(
    body.query,
    passages,
    { ...controls(body), topN: body.top_n, signal: clientSignal(reply) },
    field,
  );
  return {
    model: engine.model.name,
    results: out.results.map((r) => {
      const item = nativeResult(r);
      return body.return_documents ? { ...item, document: passages[r.index]! } : item;
    }),
    usage: { tokens: out.tokens },
  };
}

/** The native /score answer: sorted like /rerank, one result per pair. */
export async function nativeScore(engine: Engine, body: ScoreBody, reply: FastifyReply) {
  const pairs = body.pairs.map((p) => [p[0]!, p[1]!] as const);
  const out = await engine.score(pairs, { ...controls(body), signal: clientSignal(reply) }, 'pairs');
  return { model: engine.model.name, results: out.results.map(nativeResult), usage: { tokens: out.tokens } };
}
