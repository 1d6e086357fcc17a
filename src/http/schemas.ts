// TypeBox schemas of the HTTP API: the source of the OpenAPI spec (openapi.yaml).
import { Type, type Static } from '@sinclair/typebox';

const Passages = (description: string) =>
  Type.Array(Type.String(), { minItems: 1, description });

export const RerankBody = Type.Object(
  {
    query: Type.String({ minLength: 1, description: 'The search query.' }),
    passages: Type.Optional(Passages('Passages to rank against the query.')),
    documents: Type.Optional(Passages('Alias of passages (Cohere / Jina / vLLM).')),
    texts: Type.Optional(Passages('Alias of passages (TEI).')),
    top_n: Type.Optional(Type.Integer({ minimum: 1, description: 'Return only the top_n best results (cut after sorting).' })),
    return_documents: Type.Optional(Type.Boolean({ default: false, description: 'Include each passage text as `document`.' })),
    model: Type.Optional(Type.String({ description: 'Accepted for client compatibility; ignored (one model per server).' })),
  },
  { $id: 'RerankRequest', additionalProperties: false, description: 'Give exactly one of passages, documents or texts.' },
);
export type RerankBody = Static<typeof RerankBody>;

const ResultFields = {
  index: Type.Integer({ description: 'Position of the passage (or pair) in the request.' }),
  logit: Type.Unsafe<number | null>({
    type: 'number',
    nullable: true,
    description: 'Raw model logit (fp32); results are sorted on it, highest first. null if the model produced NaN (sorted last).',
  }),
  score: Type.Number({ description: "Softmax of the logit over all of the request's logits (exp_normalize)." }),
  truncated: Type.Boolean({ description: 'The passage was cut to fit the model max length (the query is kept whole).' }),
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
      type: Type.String({ description: 'bad_request | validation | too_large | unsupported_media_type | not_found | not_ready | internal | backend' }),
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
    onnx_inputs: Type.Array(Type.String()),
    batching: Type.Object({
      max_batch_tokens: Type.Integer(),
      max_batch_size: Type.Integer(),
      max_wait_ms: Type.Number(),
      max_passages: Type.Integer(),
      workers: Type.Integer(),
    }),
    versions: Type.Object({ service: Type.String(), node: Type.String(), onnxruntime: Type.Union([Type.String(), Type.Null()]) }),
  },
  { $id: 'InfoResponse' },
);

export const sharedSchemas = [Usage, ErrorResponse, StatusResponse];

const errorRef = Type.Ref(ErrorResponse);
export const errorResponses = {
  400: errorRef,
  413: errorRef,
  415: errorRef,
  422: errorRef,
  500: errorRef,
  503: errorRef,
};
