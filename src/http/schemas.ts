// TypeBox schemas of the HTTP API: the source of the OpenAPI spec (openapi.yaml).
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** The keywords whose refusal a schema may explain (refusal). */
export const EXPLAINED_KEYWORDS = ['minLength', 'pattern', 'enum', 'minimum', 'maximum', 'minItems', 'maxItems', 'required', 'oneOf', 'anyOf'] as const;
type Explained = (typeof EXPLAINED_KEYWORDS)[number];
/** `x-error-<keyword>`: an annotation, registered with ajv in app.ts and kept in the spec. */
export const errorMessageKey = (keyword: string) => `x-error-${keyword}`;

/**
 * `x-error-pattern: message` (and so on) on a schema: the message of a refusal by that keyword there, written after
 * the field's path (src/http/errors.ts); `{value}` is replaced by the value sent. For the constraints whose ajv
 * message would not say why. (A string per keyword, not one object: spec tools read an unknown keyword's object as
 * a subschema.)
 */
const refusal = (messages: Partial<Record<Explained, string>>) =>
  Object.fromEntries(Object.entries(messages).map(([keyword, message]) => [errorMessageKey(keyword), message]));

/**
 * The characters String.prototype.trim() removes (ECMAScript WhiteSpace and LineTerminator), spelled out so that
 * the pattern means the same in every regex dialect (Python's \s differs from JavaScript's).
 */
const BLANK = '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
/** A string with a character trim() keeps: not empty, not blank. */
export const NOT_BLANK = `[^${BLANK}]`;
const NOT_BLANK_MESSAGE = 'must not be empty or blank';

/** A query: a string with something besides whitespace in it. */
const Query = (description = 'The search query; not empty or blank.') =>
  Type.String({ minLength: 1, pattern: NOT_BLANK, description, ...refusal({ minLength: NOT_BLANK_MESSAGE, pattern: NOT_BLANK_MESSAGE }) });

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

const TIMEOUT_DOC =
  "This request's own deadline in milliseconds: when it passes the answer is 408 (type timeout) and pairs not yet scored are dropped. Capped by the server's REQUEST_TIMEOUT_MS, whose passing is answered 503 (type timeout, Retry-After).";
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
    query: Query(),
    passages: Type.Optional(Passages('Passages to rank against the query.')),
    documents: Type.Optional(Passages('Alias of passages, without `model` (with `model` the body is vLLM\'s: VllmRerankRequest).')),
    top_n: Type.Optional(Type.Integer({ minimum: 1, description: 'Return only the top_n best results (cut after sorting).' })),
    return_documents: Type.Optional(Type.Boolean({ description: 'Include each passage text as `document` (default false).' })),
    model: Type.Optional(Type.String({ description: 'Accepted for client compatibility; ignored (one model per server).' })),
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

// ---- vLLM's optional fields (its score and rerank APIs; also accepted on the Cohere routes) ------------------------

const TRUNCATE_PROMPT_TOKENS =
  "{value} is not supported: every pair is cut to the model's max_len (GET /info) with the query kept whole and the passage cut, which is truncate_prompt_tokens -1; send -1 or omit it (max_tokens_per_doc on /rerank, /v1/rerank or /v2/rerank caps each passage's tokens)";

export const VllmExtras = {
  user: Type.Optional(Type.String({ nullable: true, description: 'Accepted for client compatibility; ignored.' })),
  priority: Type.Optional(
    Type.Integer({ nullable: true, description: 'Accepted and ignored: requests are served first come, first served (no priority scheduling).' }),
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
    Type.Boolean({ nullable: true, description: 'true or null (default): score = sigmoid(logit); false: score = the raw logit.' }),
  ),
};

export const VllmUsage = Type.Object(
  {
    prompt_tokens: Type.Integer({ description: 'Tokens fed to the model (special tokens included, padding excluded).' }),
    total_tokens: Type.Integer({ description: 'Same as prompt_tokens (nothing is generated).' }),
  },
  { $id: 'VllmUsage' },
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
    pairs: Type.Array(Type.Array(Type.String(), { minItems: 2, maxItems: 2, description: '[query, passage]' }), {
      minItems: 1,
      description: 'Pairs to score: [[query, passage], ...].',
    }),
    model: Type.Optional(Type.String({ description: 'Accepted for client compatibility; ignored.' })),
    ...Controls,
  },
  { $id: 'ScoreRequest', additionalProperties: false, description: "The native body; a body with text_1 or text_2 is vLLM's (VllmScoreRequest)." },
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
      type: Type.String({ description: 'bad_request | unauthorized | validation | too_large | unsupported_media_type | not_acceptable | not_found | not_ready | overloaded | timeout | shutting_down | internal | backend' }),
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
      max_batch_ms: Type.Integer({ description: 'MAX_BATCH_MS in effect: the run-time bound of a CPU micro-batch (0: none, always 0 on CUDA)' }),
      batch_tokens_now: Type.Integer({
        description: 'The token budget of the next micro-batch: max_batch_tokens, or less when max_batch_ms bounds it at the measured ms per token',
      }),
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

export const sharedSchemas = [Usage, VllmUsage, ErrorResponse, StatusResponse, Chunking];
/**
 * Registered after the definitions below (hoisting): schemas referenced by $ref from more than one route, for a
 * model of `maxLen` tokens.
 */
export const refSchemas = (maxLen: number) => [
  RerankBody,
  RerankResponse,
  ScoreBody,
  ScoreResponse,
  TeiRerankBody,
  TeiRerankResponse,
  VllmRerankBody,
  VllmRerankResponse,
  VllmScoreBody,
  VllmScoreResponse,
  invocationsBody(maxLen),
];

const errorRef = Type.Ref(ErrorResponse);
/** Declared by app.ts on every route outside PUBLIC_ROUTES (answered when API_KEYS is set). */
export const unauthorizedResponse = Type.Ref(ErrorResponse, { description: 'Missing or invalid API key (only when API_KEYS is set).' });
export const errorResponses = {
  400: errorRef,
  413: errorRef,
  415: errorRef,
  422: errorRef,
  429: errorRef,
  500: errorRef,
  503: Type.Ref(ErrorResponse, {
    description: 'not_ready (the model is loading), shutting_down, or timeout: the server\'s REQUEST_TIMEOUT_MS passed (with Retry-After).',
  }),
};
/** The routes whose bodies take timeout_ms: its passing is 408. */
export const deadlineResponses = {
  ...errorResponses,
  408: Type.Ref(ErrorResponse, { description: "timeout: the request's own timeout_ms passed before it was scored (no Retry-After: the deadline was the client's)." }),
};

// ---- Cohere / Jina compatible shapes ---------------------------------------------------------------------------

const CohereDocument = Type.Union(
  [
    Type.String(),
    Type.Object({ text: Type.Optional(Type.String()) }, { additionalProperties: Type.String(), description: '{text} or, with rank_fields, any string fields' }),
  ],
  { description: 'A string, or an object with a `text` field (or, given rank_fields, the string fields it names).' },
);

/** v2 (no rank_fields): a string or {text, ...}. */
const CohereTextDocument = Type.Union(
  [
    Type.String(),
    Type.Object(
      { text: Type.String() },
      { additionalProperties: Type.String(), description: '{text}, other string fields ignored', ...refusal({ required: 'must be a string or have a string field text' }) },
    ),
  ],
  { description: 'A string, or an object with a `text` field.' },
);

// Cohere SDKs send unset optional fields as null: optional fields here accept null (= not given).
const nullable = { nullable: true } as const;

/** The fields of both Cohere versions, with the version's documents. */
const cohereFields = <D extends TSchema>(document: D) => ({
  timeout_ms: Type.Optional(Type.Integer({ ...nullable, minimum: 1, description: TIMEOUT_DOC })),
  model: Type.Optional(Type.String({ ...nullable, description: 'Accepted for client compatibility; ignored (one model per server).' })),
  query: Query(),
  documents: Type.Array(document, { minItems: 1, description: 'Documents to rank.' }),
  top_n: Type.Optional(Type.Integer({ ...nullable, minimum: 0, description: 'Return only the top_n most relevant (cut after sorting); 0 (vLLM) or null: all.' })),
  ...VllmExtras,
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
});

export const CohereV1Body = Type.Object(
  {
    ...cohereFields(CohereDocument),
    return_documents: Type.Optional(
      Type.Boolean({ ...nullable, description: 'Default true (as Jina and vLLM answer): each result has its document, `{text}` or the object as sent. false: no documents.' }),
    ),
    rank_fields: Type.Optional(
      Type.Array(Type.String(), { ...nullable, minItems: 1, description: "Object documents: rank on these fields' values, joined by newlines in this order." }),
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
                { type: 'object', required: ['text'], ...refusal({ required: 'must be a string or have a string field text (or give rank_fields)' }) },
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
            description: 'disabled (what the Cohere SDK 7.x sends to turn it off); enabled is refused (422): this model returns no spans.',
            ...refusal({
              enum: '{value} is not supported: this model scores whole documents and returns no relevant spans; send {"mode": "disabled"} or omit relevant_spans',
            }),
          }),
          threshold: Type.Optional(Type.Number({ nullable: true })),
          max_spans: Type.Optional(Type.Integer({ nullable: true })),
        },
        { ...nullable, additionalProperties: false, description: "Cohere v5 context compression. Only mode disabled is accepted." },
      ),
    ),
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
  relevance_score: Type.Number({ description: 'sigmoid(logit), in [0, 1] (the logit with use_activation false); results are sorted on the fp32 logits.' }),
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
    usage: Type.Ref(VllmUsage),
    meta: CohereMeta('1'),
  },
  { $id: 'CohereV1RerankResponse' },
);

export const CohereV2Response = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    model: Type.String({ description: 'The served model (vLLM clients read it).' }),
    results: Type.Array(Type.Object({ ...CohereResult, document: Type.Object({ text: Type.String() }, { description: 'The ranked text (vLLM).' }) })),
    usage: Type.Ref(VllmUsage),
    meta: CohereMeta('2'),
  },
  { $id: 'CohereV2RerankResponse' },
);

// ---- vLLM score and rerank ---------------------------------------------------------------------------------------

const TextOrTexts = (description: string) => Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })], { description });

export const VllmScoreBody = Type.Object(
  {
    model: Type.Optional(Type.String({ nullable: true, description: 'Accepted for client compatibility; ignored (one model per server).' })),
    text_1: TextOrTexts('The query, or a one-item list applied to every text_2 item (1:N), or one query per text_2 item (N:N).'),
    text_2: TextOrTexts('The passages.'),
    ...VllmExtras,
    timeout_ms: Type.Optional(Type.Integer({ nullable: true, minimum: 1, description: TIMEOUT_DOC })),
  },
  { $id: 'VllmScoreRequest', additionalProperties: false, description: "vLLM's score API body (POST /score or /v1/score with text_1 / text_2)." },
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
    model: Type.String({ nullable: true, description: "Accepted and ignored (one model per server); on POST /rerank its presence with documents marks the body as vLLM's." }),
    query: Query(),
    documents: Passages('Documents to rank.'),
    top_n: Type.Optional(Type.Integer({ nullable: true, minimum: 0, description: 'Return only the top_n best (cut after sorting); 0 or null (default): all.' })),
    ...VllmExtras,
    timeout_ms: Type.Optional(Type.Integer({ nullable: true, minimum: 1, description: TIMEOUT_DOC })),
  },
  { $id: 'VllmRerankRequest', additionalProperties: false, description: "vLLM's rerank API body (POST /rerank with documents and model)." },
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
        relevance_score: Type.Number({ description: 'sigmoid(logit); the logit with use_activation false. Sorted on the fp32 logits.' }),
      }),
    ),
  },
  { $id: 'VllmRerankResponse' },
);

// ---- Hugging Face text-embeddings-inference (TEI) -----------------------------------------------------------------

const TruncationDirection = Type.Unsafe<'Right' | 'right'>({
  type: 'string',
  enum: ['Right', 'right'],
  description: "Right (default): the passage is cut at its end, the query kept whole. TEI's Left is refused (422).",
  ...refusal({
    enum: '{value} is not supported: the query is kept whole and the passage is cut at its end (Right); send Right or omit it',
  }),
});
const TeiTruncate = Type.Boolean({
  nullable: true,
  description: 'Default (null): true, cut to fit max_len (TEI: the server default). false: 422 listing the texts that do not fit.',
});
const RawScores = Type.Boolean({ description: 'false (default): score = sigmoid(logit); true: score = the logit.' });

export const TeiRerankBody = Type.Object(
  {
    query: Query(),
    texts: Passages('Texts to rank against the query.'),
    raw_scores: Type.Optional(RawScores),
    return_text: Type.Optional(Type.Boolean({ description: 'Include each text as `text` (default false).' })),
    truncate: Type.Optional(TeiTruncate),
    truncation_direction: Type.Optional(TruncationDirection),
  },
  { $id: 'TeiRerankRequest', additionalProperties: false, description: "TEI's rerank body (POST /rerank with texts)." },
);
export type TeiRerankBody = Static<typeof TeiRerankBody>;

export const TeiRerankResponse = Type.Array(
  Type.Object({
    index: Type.Integer({ description: 'Position of the text in the request.' }),
    text: Type.Optional(Type.String({ description: 'The text, when return_text.' })),
    score: Type.Number({ description: 'sigmoid(logit), or the logit with raw_scores.' }),
  }),
  { $id: 'TeiRerankResponse', description: "TEI's bare array, sorted by score (on the fp32 logits), highest first." },
);

const SINGLE_TEXT = 'is a single text: this model is a cross-encoder and scores [query, passage] pairs';
const TeiSequence = Type.Array(Type.String(), {
  minItems: 2,
  maxItems: 2,
  description: '[query, passage]',
  ...refusal({ minItems: SINGLE_TEXT, maxItems: 'must be one [query, passage] pair: two texts' }),
});

export const PredictBody = Type.Object(
  {
    inputs: Type.Union([TeiSequence, Type.Array(TeiSequence, { minItems: 1 })], {
      description: 'One pair [query, passage], or a batch [[query, passage], ...]. Single texts (a string, [text]) are refused: this model scores pairs.',
      ...refusal({ anyOf: 'must be one [query, passage] pair or a list of them: a single text is not scored, this model is a cross-encoder' }),
    }),
    raw_scores: Type.Optional(RawScores),
    truncate: Type.Optional(TeiTruncate),
    truncation_direction: Type.Optional(TruncationDirection),
  },
  { $id: 'PredictRequest', additionalProperties: false, description: "TEI's sequence-classification body." },
);
export type PredictBody = Static<typeof PredictBody>;

const Prediction = Type.Object({
  score: Type.Number({ description: 'sigmoid(logit), or the logit with raw_scores.' }),
  label: Type.String({ description: 'LABEL_0 (the one label of a cross-encoder).' }),
});

export const PredictResponse = Type.Union([Type.Array(Prediction), Type.Array(Type.Array(Prediction))], {
  description: 'One pair: [{score, label}]; a batch: [[{score, label}], ...] in input order.',
});

// ---- SageMaker (Hugging Face inference toolkit payload) ----------------------------------------------------------

const Pair = Type.Object(
  { text: Type.String({ description: 'The query.' }), text_pair: Type.String({ description: 'The passage.' }) },
  { additionalProperties: false },
);

/** function_to_apply, case-insensitive as transformers reads it (ClassificationFunction[name.upper()]). */
const caseless = (word: string) => [...word].map((c) => `[${c.toUpperCase()}${c}]`).join('');
const FUNCTIONS = ['sigmoid', 'softmax', 'none'];

/**
 * The toolkit payload; `maxLen` is the served model's max_len, the least max_length accepted (the spec of a server
 * says what that server takes).
 */
export const invocationsBody = (maxLen: number) =>
  Type.Object(
    {
      inputs: Type.Union([Pair, Type.Array(Pair, { minItems: 1 })], {
        description: 'One pair (answered with one {label, score}) or a list of pairs (answered in this order).',
      }),
      parameters: Type.Optional(
        Type.Object(
          {
            function_to_apply: Type.Optional(
              Type.String({
                pattern: `^(?:${FUNCTIONS.map(caseless).join('|')})$`,
                description:
                  'As transformers\' TextClassificationPipeline (case-insensitive): sigmoid (default, the one-label default), none (the raw logit), softmax (over the one label: always 1.0).',
                ...refusal({ pattern: `must be one of ${FUNCTIONS.join(' | ')} (any case), got {value}` }),
              }),
            ),
            top_k: Type.Optional(
              Type.Integer({ nullable: true, minimum: 0, description: 'Given (even null): each input is answered with a list of its top_k labels, [{label, score}] (one label).' }),
            ),
            truncation: Type.Optional(
              Type.Union(
                [
                  Type.Boolean(),
                  Type.Unsafe<'longest_first' | 'only_second' | 'do_not_truncate'>({
                    type: 'string',
                    enum: ['longest_first', 'only_second', 'do_not_truncate'],
                    ...refusal({
                      enum: '{value} is not supported: the passage is cut and the query kept whole (true, longest_first, only_second), or nothing is cut and pairs that do not fit are refused (false, do_not_truncate)',
                    }),
                  }),
                ],
                {
                  description:
                    "true / longest_first / only_second (default): cut the passage to fit max_len, the query kept whole. false / do_not_truncate: 422 listing the pairs that do not fit. only_first is refused.",
                },
              ),
            ),
            max_length: Type.Optional(
              Type.Integer({
                minimum: maxLen,
                description: `At least the model's max_len (${maxLen}, GET /info): accepted (pairs are cut to max_len). Smaller: refused (422).`,
                ...refusal({
                  minimum: `{value} is below the model's max_len ${maxLen}: not supported (pairs are cut to max_len, the query kept whole); omit it, or cap passages with max_tokens_per_doc on /rerank`,
                }),
              }),
            ),
            padding: Type.Optional(Type.Union([Type.Boolean(), Type.String()], { description: 'Accepted and ignored: padding does not change a score.' })),
            timeout_ms: Type.Optional(TimeoutMs),
          },
          { additionalProperties: false },
        ),
      ),
    },
    {
      $id: 'InvocationsRequest',
      additionalProperties: false,
      description: "The Hugging Face inference toolkit's text-classification payload with text pairs (transformers' TextClassificationPipeline).",
    },
  );
/** For the types and $ref: the registered schema is invocationsBody(the model's max_len) (refSchemas). */
export const InvocationsBody = invocationsBody(512);
export type InvocationsBody = Static<typeof InvocationsBody>;

const Label = Type.Object({
  label: Type.String({ description: 'LABEL_0 (the one label of a cross-encoder).' }),
  score: Type.Number({ description: 'sigmoid(logit) by default; see function_to_apply.' }),
});

export const InvocationsResponse = Type.Union([Label, Type.Array(Label), Type.Array(Type.Array(Label))], {
  description: 'A list of pairs: [{label, score}] in input order; one pair: {label, score}; with top_k, each input gets a list: [[{label, score}]] or [{label, score}]. Accept: text/csv answers `label,score` rows.',
});
