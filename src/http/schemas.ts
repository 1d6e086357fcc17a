// TypeBox schemas of the HTTP API: the source of the OpenAPI spec (openapi.yaml).
import { Type, type Static } from '@sinclair/typebox';

const Passages = (description: string) =>
  Type.Array(Type.String(), { minItems: 1, description });

export const NormalizeField = Type.Unsafe<'softmax' | 'sigmoid' | 'none'>({
  type: 'string',
  enum: ['softmax', 'sigmoid', 'none'],
  description:
    "How `score` is computed from the logit: softmax (default) over all of the request's logits (exp_normalize), sigmoid of each logit, or none (score = logit). Results are always sorted on the fp32 logits.",
});

const MaxTokensPerDoc = Type.Integer({
  minimum: 1,
  description: 'Cap on the tokens of each passage (one window, when chunking); clamped to what fits in max_len with the query.',
});

const Truncate = Type.Boolean({
  description: 'Default true. false: answer 422, listing the indexes of the passages that do not fit (or naming a query over QUERY_MAX_SHARE of max_len), instead of cutting them.',
});

export const Chunking = Type.Object(
  {
    max_chunks_per_doc: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 64, description: 'Most windows per passage (default 8); tokens past the last window are not scored (truncated: true).' }),
    ),
    overlap_tokens: Type.Optional(Type.Integer({ minimum: 0, description: 'Tokens shared by consecutive windows (default 32; at most half a window).' })),
  },
  {
    $id: 'Chunking',
    additionalProperties: false,
    description:
      "Opt-in long-passage chunking: a passage that does not fit is split into overlapping token windows, each scored with the query in the same batches as the other pairs; the passage's logit is its best window's. The (query, window) pairs of a request are capped by MAX_CHUNKED_PAIRS (413).",
  },
);

const TIMEOUT_DOC = 'Deadline of this request in milliseconds, capped by REQUEST_TIMEOUT_MS; past it the answer is 503 (type timeout) and pairs not yet scored are dropped.';
const TimeoutMs = Type.Integer({ minimum: 1, description: TIMEOUT_DOC });

const Controls = {
  timeout_ms: Type.Optional(TimeoutMs),
  normalize: Type.Optional(NormalizeField),
  max_tokens_per_doc: Type.Optional(MaxTokensPerDoc),
  truncate: Type.Optional(Truncate),
  chunking: Type.Optional(Type.Ref(Chunking)),
};

export const RerankBody = Type.Object(
  {
    query: Type.String({ minLength: 1, description: 'The search query.' }),
    passages: Type.Optional(Passages('Passages to rank against the query.')),
    documents: Type.Optional(Passages('Alias of passages (Cohere / Jina / vLLM).')),
    texts: Type.Optional(Passages('Alias of passages (TEI).')),
    top_n: Type.Optional(Type.Integer({ minimum: 1, description: 'Return only the top_n best results (cut after sorting).' })),
    return_documents: Type.Optional(Type.Boolean({ description: 'Include each passage text as `document` (default false).' })),
    model: Type.Optional(Type.String({ description: 'Accepted for client compatibility; ignored (one model per server).' })),
    ...Controls,
  },
  { $id: 'RerankRequest', additionalProperties: false, description: 'Give exactly one of passages, documents or texts.' },
);
export type RerankBody = Static<typeof RerankBody>;

const ResultFields = {
  index: Type.Integer({ description: 'Position of the passage (or pair) in the request.' }),
  logit: Type.Number({ description: 'Raw model logit (fp32); results are sorted on it, highest first.' }),
  score: Type.Number({
    description: "The logit as `normalize` asks: softmax over all of the request's logits (default), sigmoid, or the logit itself.",
  }),
  truncated: Type.Boolean({
    description: 'Some of the passage was not scored: cut to fit max_len or max_tokens_per_doc (the query is kept whole), or past the last chunk.',
  }),
  chunks: Type.Integer({ description: 'Windows scored for this passage: 1 unless chunking split it.' }),
  best_chunk: Type.Optional(Type.Integer({ description: "Chunked passages only: the 0-based window whose logit is the passage's (the max)." })),
};

const Usage = Type.Object(
  { tokens: Type.Integer({ description: 'Tokens fed to the model (special tokens included, padding excluded).' }) },
  { $id: 'Usage' },
);

export const RerankResponse = Type.Object(
  {
    model: Type.String(),
    results: Type.Array(
      Type.Object({ ...ResultFields, document: Type.Optional(Type.String({ description: 'The passage, when return_documents is true.' })) }),
    ),
    usage: Type.Ref(Usage),
  },
  { $id: 'RerankResponse' },
);

export const ScoreBody = Type.Object(
  {
    pairs: Type.Optional(
      Type.Array(Type.Array(Type.String(), { minItems: 2, maxItems: 2, description: '[query, passage]' }), {
        minItems: 1,
        description: 'Pairs to score: [[query, passage], ...].',
      }),
    ),
    text_1: Type.Optional(
      Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })], {
        description: "vLLM shape: the query (or one query per text_2 item, or a one-item list applied to every text_2 item).",
      }),
    ),
    text_2: Type.Optional(
      Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })], { description: 'vLLM shape: the passages.' }),
    ),
    model: Type.Optional(Type.String({ description: 'Accepted for client compatibility; ignored.' })),
    ...Controls,
  },
  { $id: 'ScoreRequest', additionalProperties: false, description: 'Give either pairs, or text_1 and text_2.' },
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

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      type: Type.String({ description: 'bad_request | validation | too_large | unsupported_media_type | not_found | not_ready | overloaded | timeout | shutting_down | internal | backend' }),
      message: Type.String(),
    }),
  },
  { $id: 'ErrorResponse' },
);

export const StatusResponse = Type.Object({ status: Type.String() }, { $id: 'StatusResponse' });

export const InfoResponse = Type.Object(
  {
    model: Type.String(),
    model_dir: Type.String(),
    onnx_path: Type.String(),
    max_len: Type.Integer(),
    query_max_share: Type.Number(),
    tokenizer: Type.String(),
    ready: Type.Boolean(),
    provider: Type.Union([Type.String(), Type.Null()]),
    provider_reason: Type.Union([Type.String(), Type.Null()], {
      description: 'Why the CPU serves although DEVICE=auto asked for CUDA (the first thing missing, and what to install); null otherwise',
    }),
    onnx_inputs: Type.Array(Type.String()),
    batching: Type.Object({
      max_batch_tokens: Type.Integer({ description: 'The micro-batch token budget in effect (MAX_BATCH_TOKENS, or the device default when it is 0)' }),
      max_batch_size: Type.Integer(),
      max_wait_ms: Type.Number(),
      max_passages: Type.Integer(),
      max_passage_chars: Type.Integer(),
      max_queue_pairs: Type.Integer(),
      request_timeout_ms: Type.Integer(),
      workers: Type.Integer(),
    }),
    versions: Type.Object({ service: Type.String(), node: Type.String(), onnxruntime: Type.Union([Type.String(), Type.Null()]) }),
  },
  { $id: 'InfoResponse' },
);

export const sharedSchemas = [Usage, ErrorResponse, StatusResponse, Chunking];
/** Registered after the definitions below (hoisting): schemas referenced by $ref from more than one route. */
export const refSchemas = () => [RerankBody, RerankResponse, InvocationsBody, InvocationsResponse];

const errorRef = Type.Ref(ErrorResponse);
export const errorResponses = {
  400: errorRef,
  413: errorRef,
  415: errorRef,
  422: errorRef,
  429: errorRef,
  500: errorRef,
  503: errorRef,
};

// ---- Cohere / Jina compatible shapes ---------------------------------------------------------------------------

const CohereDocument = Type.Union(
  [
    Type.String(),
    Type.Object({ text: Type.Optional(Type.String()) }, { additionalProperties: Type.String(), description: '{text} or, with rank_fields, any string fields' }),
  ],
  { description: 'A string, or an object with a `text` field (v1: any string fields, ranked by rank_fields).' },
);

// Cohere SDKs send unset optional fields as null: optional fields here accept null (= not given).
const nullable = { nullable: true } as const;

const CohereCommon = {
  timeout_ms: Type.Optional(Type.Integer({ ...nullable, minimum: 1, description: TIMEOUT_DOC })),
  model: Type.Optional(Type.String({ ...nullable, description: 'Accepted for client compatibility; ignored (one model per server).' })),
  query: Type.String({ minLength: 1, description: 'The search query.' }),
  documents: Type.Array(CohereDocument, { minItems: 1, description: 'Documents to rank.' }),
  top_n: Type.Optional(Type.Integer({ ...nullable, minimum: 1, description: 'Return only the top_n most relevant (cut after sorting).' })),
  max_tokens_per_doc: Type.Optional(
    Type.Integer({ ...nullable, minimum: 1, description: "Cap on each document's tokens (Cohere's default is 4096); clamped to what fits in max_len with the query." }),
  ),
  max_chunks_per_doc: Type.Optional(
    Type.Integer({
      ...nullable,
      minimum: 1,
      maximum: 64,
      description: 'Opt-in chunking (Cohere v1 field; an extension on v2): split a document that does not fit into at most this many overlapping windows, score = best window.',
    }),
  ),
};

export const CohereV1Body = Type.Object(
  {
    ...CohereCommon,
    return_documents: Type.Optional(Type.Boolean({ ...nullable, description: 'Include each document as `document: {text}` (Jina, Cohere v1).' })),
    rank_fields: Type.Optional(
      Type.Array(Type.String(), { ...nullable, minItems: 1, description: "Object documents: rank on these fields' values, joined by newlines in this order." }),
    ),
  },
  { $id: 'CohereV1RerankRequest', additionalProperties: false },
);
export type CohereV1Body = Static<typeof CohereV1Body>;

export const CohereV2Body = Type.Object(
  {
    ...CohereCommon,
    priority: Type.Optional(Type.Integer({ ...nullable, description: 'Accepted for client compatibility; ignored.' })),
  },
  { $id: 'CohereV2RerankRequest', additionalProperties: false },
);
export type CohereV2Body = Static<typeof CohereV2Body>;

const CohereMeta = (version: string) =>
  Type.Object({
    api_version: Type.Object({ version: Type.Literal(version) }),
    billed_units: Type.Object({ search_units: Type.Integer({ description: 'ceil(scored (query, document or chunk) pairs / 100), at least 1.' }) }),
  });

const CohereResult = {
  index: Type.Integer({ description: 'Position of the document in the request.' }),
  relevance_score: Type.Number({ description: 'sigmoid(logit), in [0, 1]; results are sorted on the fp32 logits.' }),
};

export const CohereV1Response = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    model: Type.String({ description: 'The served model (Jina clients read it).' }),
    results: Type.Array(
      Type.Object({
        ...CohereResult,
        document: Type.Optional(
          Type.Object({ text: Type.Optional(Type.String()) }, { additionalProperties: Type.String(), description: 'The document as sent, when return_documents.' }),
        ),
      }),
    ),
    usage: Type.Object({ total_tokens: Type.Integer({ description: 'Tokens fed to the model (Jina).' }) }),
    meta: CohereMeta('1'),
  },
  { $id: 'CohereV1RerankResponse' },
);

export const CohereV2Response = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    results: Type.Array(Type.Object(CohereResult)),
    meta: CohereMeta('2'),
  },
  { $id: 'CohereV2RerankResponse' },
);

// ---- SageMaker (Hugging Face inference toolkit payload) ----------------------------------------------------------

export const InvocationsBody = Type.Object(
  {
    inputs: Type.Array(
      Type.Object(
        { text: Type.String({ description: 'The query.' }), text_pair: Type.String({ description: 'The passage.' }) },
        { additionalProperties: false },
      ),
      { minItems: 1, description: 'Pairs to score, answered in this order.' },
    ),
    parameters: Type.Optional(
      Type.Object(
        {
          function_to_apply: Type.Optional(
            Type.Unsafe<'sigmoid' | 'none'>({ type: 'string', enum: ['sigmoid', 'none'], description: 'sigmoid (default): score = sigmoid(logit); none: the raw logit.' }),
          ),
          truncation: Type.Optional(Type.Boolean({ description: 'Default true. false: 422 listing the pairs that do not fit instead of cutting the passage.' })),
          timeout_ms: Type.Optional(TimeoutMs),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { $id: 'InvocationsRequest', additionalProperties: false, description: "The Hugging Face inference toolkit's text-classification payload with text pairs." },
);
export type InvocationsBody = Static<typeof InvocationsBody>;

export const InvocationsResponse = Type.Array(
  Type.Object({
    label: Type.String({ description: 'Always LABEL_0 (one-logit cross-encoder).' }),
    score: Type.Number({ description: 'sigmoid(logit), or the logit with function_to_apply none.' }),
  }),
  { $id: 'InvocationsResponse', description: 'One item per input, in input order.' },
);
