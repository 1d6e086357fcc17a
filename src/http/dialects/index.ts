// The dialect rules: which body goes to which dialect on the paths that several clients share. The fields a body has
// decide, never its values, and each dialect's schema follows the same rule, so a valid body matches one dialect:
//   POST /rerank            `texts` → TEI; else `documents` and `model` → vLLM; else native (`passages`, or
//                           `documents` without `model`)
//   POST /score, /v1/score  `text_1` or `text_2` → vLLM; else native (`pairs`)
//   POST /invocations       `inputs` → the SageMaker toolkit payload; else the native /rerank body (`query`)
//   POST /v1/rerank         Cohere v1's body, which Jina and vLLM send too; POST /v2/rerank: Cohere v2's, also vLLM's.
//                           The body alone cannot say whose it is; where the defaults differ (return_documents),
//                           v1Client tells Cohere's clients apart by what they send (v1Client below)
//   POST /predict           TEI
import { ServiceError } from '../../core/errors.ts';
import { pickError, validationMessage, type SchemaError } from '../errors.ts';
import { ErrorResponse, StatusResponse } from './common.ts';
import { Chunking, RerankBody, RerankResponse, ScoreBody, ScoreResponse, Usage } from './native.ts';
import { InvocationsBody, invocationsBody } from './sagemaker.ts';
import { TeiRerankBody, TeiRerankResponse } from './tei.ts';
import { VllmRerankBody, VllmRerankResponse, VllmScoreBody, VllmScoreResponse, VllmUsage } from './vllm.ts';

export interface Dialect {
  /** $id of the dialect's body schema. */
  schema: string;
  /** How a body is read as this dialect, for error messages. */
  rule: string;
}

const NATIVE_RERANK: Dialect = {
  schema: 'RerankRequest',
  rule: 'read as the native body (passages, or documents without model)',
};
const TEI_RERANK: Dialect = { schema: 'TeiRerankRequest', rule: "read as TEI's body because it has texts" };
const VLLM_RERANK: Dialect = {
  schema: 'VllmRerankRequest',
  rule: "read as vLLM's body because it has documents and model; send passages for the native answer",
};
const NATIVE_SCORE: Dialect = { schema: 'ScoreRequest', rule: 'read as the native body (pairs)' };
const VLLM_SCORE: Dialect = {
  schema: 'VllmScoreRequest',
  rule: "read as vLLM's body because it has text_1 or text_2; send pairs for the native answer",
};

const has = (body: unknown, key: string) =>
  typeof body === 'object' && body !== null && !Array.isArray(body) && key in body;

/** POST /rerank's dialect of a body. */
export function rerankDialect(body: unknown): Dialect {
  if (has(body, 'texts')) return TEI_RERANK;
  if (has(body, 'documents') && has(body, 'model')) return VLLM_RERANK;
  return NATIVE_RERANK;
}

/** Who sent a POST /v1/rerank body, where it matters: Cohere's default return_documents is false, Jina's true. */
export type V1Client = 'cohere' | 'jina';

/**
 * Cohere's clients, by what they send: the official SDKs (cohere-ai for JavaScript, cohere for Python, and what is
 * built on them: langchain-cohere, LlamaIndex's CohereRerank) send `X-Fern-SDK-Name: cohere-ai` / `cohere` and a
 * `User-Agent` of `cohere-ai/<version>` / `cohere/<version>`; raw HTTP may name a Cohere model (`rerank-english-v3.0`,
 * `rerank-v3.5`: Cohere's models are named rerank-*). Anything else (Jina's clients, which name jina-reranker-*
 * models, vLLM's, curl) is read as Jina's. The headers win over the model name.
 */
export function v1Client(headers: Readonly<Record<string, string | string[] | undefined>>, body: unknown): V1Client {
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v)?.trim().toLowerCase() ?? '';
  const sdk = first(headers['x-fern-sdk-name']);
  if (sdk === 'cohere' || sdk === 'cohere-ai') return 'cohere';
  if (/^cohere(-ai)?\//.test(first(headers['user-agent']))) return 'cohere';
  const model = has(body, 'model') ? (body as { model: unknown }).model : undefined;
  return typeof model === 'string' && model.toLowerCase().startsWith('rerank-') ? 'cohere' : 'jina';
}

/** POST /score's and /v1/score's dialect of a body. */
export function scoreDialect(body: unknown): Dialect {
  return has(body, 'text_1') || has(body, 'text_2') ? VLLM_SCORE : NATIVE_SCORE;
}

// Type guards for the routes' validated union bodies, by the same rules.
export const isTeiRerank = (body: RerankBody | TeiRerankBody | VllmRerankBody): body is TeiRerankBody =>
  rerankDialect(body) === TEI_RERANK;
export const isVllmRerank = (body: RerankBody | TeiRerankBody | VllmRerankBody): body is VllmRerankBody =>
  rerankDialect(body) === VLLM_RERANK;
export const isVllmScore = (body: ScoreBody | VllmScoreBody): body is VllmScoreBody =>
  scoreDialect(body) === VLLM_SCORE;
export const isToolkitPayload = (body: InvocationsBody | RerankBody): body is InvocationsBody => has(body, 'inputs');

/** The first schema error of the dialect's branch, as a validation error that says how the body was read. */
export function dialectError(
  err: { validation?: unknown; validationContext?: string },
  dialect: Dialect,
): ServiceError {
  const errors = (err.validation ?? []) as SchemaError[];
  // The route's anyOf error is not the dialect's (its schemaPath starts with #/anyOf).
  const mine = errors.filter((e) => e.schemaPath?.startsWith(dialect.schema));
  const first = pickError(mine) ?? pickError(errors);
  if (!first) return new ServiceError('validation', `${err.validationContext ?? 'body'} is invalid (${dialect.rule})`);
  return new ServiceError(
    'validation',
    `${validationMessage(first, err.validationContext ?? 'body')} (${dialect.rule})`,
  );
}

/**
 * POST /invocations takes either shape (anyOf): report the error of the shape the body meant, the toolkit's when it
 * has `inputs`, the native one's when it has `query`.
 */
export function invocationsError(errors: readonly SchemaError[], context: string): ServiceError {
  // The route's anyOf error is about the whole body (ajv runs verbose: it carries the body as its data).
  const body = errors.find((e) => e.instancePath === '' && e.schemaPath === '#/anyOf')?.data;
  const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
  if (isObject && !('inputs' in body) && !('query' in body)) {
    return new ServiceError(
      'validation',
      `${context} must have inputs (the toolkit payload, [{text, text_pair}, ...]) or query (the native /rerank body)`,
    );
  }
  const toolkit = isObject && 'inputs' in body;
  const branch = errors.filter(
    (e) =>
      !e.schemaPath?.startsWith('#/anyOf') && (e.schemaPath?.startsWith('InvocationsRequest') ?? false) === toolkit,
  );
  if (branch[0]?.keyword === 'not') {
    return new ServiceError(
      'validation',
      `${context} has documents and model, which is vLLM's rerank body: POST it to /rerank, or send passages here for the native answer`,
    );
  }
  return new ServiceError('validation', validationMessage(pickError(branch) ?? pickError(errors)!, context));
}

/** The schemas referenced by $ref from other schemas, registered first (the spec lists them in this order). */
export const sharedSchemas = [Usage, VllmUsage, ErrorResponse, StatusResponse, Chunking];
/** The schemas referenced by $ref from more than one route, for a model of `maxLen` tokens. */
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
