// One path, several clients' bodies: which dialect a body is (by the fields it has, never by guessing from values),
// and the schema error of that dialect's shape (the route's body schema is anyOf the dialects' schemas).
import { ServiceError } from '../core/errors.ts';
import { pickError, validationMessage, type SchemaError } from './errors.ts';

export interface Dialect {
  /** $id of the dialect's body schema. */
  schema: string;
  /** How a body is read as this dialect, for error messages. */
  rule: string;
}

export const NATIVE_RERANK: Dialect = { schema: 'RerankRequest', rule: "read as the native body (passages, or documents without model)" };
export const TEI_RERANK: Dialect = { schema: 'TeiRerankRequest', rule: "read as TEI's body because it has texts" };
export const VLLM_RERANK: Dialect = { schema: 'VllmRerankRequest', rule: "read as vLLM's body because it has documents and model; send passages for the native answer" };
export const NATIVE_SCORE: Dialect = { schema: 'ScoreRequest', rule: 'read as the native body (pairs)' };
export const VLLM_SCORE: Dialect = { schema: 'VllmScoreRequest', rule: "read as vLLM's body because it has text_1 or text_2; send pairs for the native answer" };

const has = (body: unknown, key: string) => typeof body === 'object' && body !== null && !Array.isArray(body) && key in body;

/**
 * POST /rerank: `texts` → TEI; else `documents` and `model` → vLLM; else native (`passages`, or `documents` without
 * `model`). The schemas follow the same rule, so a body is valid for one dialect at most.
 */
export function rerankDialect(body: unknown): Dialect {
  if (has(body, 'texts')) return TEI_RERANK;
  if (has(body, 'documents') && has(body, 'model')) return VLLM_RERANK;
  return NATIVE_RERANK;
}

/** POST /score and /v1/score: `text_1` or `text_2` → vLLM; else native (`pairs`). */
export function scoreDialect(body: unknown): Dialect {
  return has(body, 'text_1') || has(body, 'text_2') ? VLLM_SCORE : NATIVE_SCORE;
}

/** The first schema error of the dialect's branch, as a validation error that says how the body was read. */
export function dialectError(err: { validation?: unknown; validationContext?: string }, dialect: Dialect): ServiceError {
  const errors = (err.validation ?? []) as SchemaError[];
  // The route's anyOf error is not the dialect's (its schemaPath starts with #/anyOf).
  const mine = errors.filter((e) => e.schemaPath?.startsWith(dialect.schema));
  const first = pickError(mine) ?? pickError(errors);
  if (!first) return new ServiceError('validation', `${err.validationContext ?? 'body'} is invalid (${dialect.rule})`);
  return new ServiceError('validation', `${validationMessage(first, err.validationContext ?? 'body')} (${dialect.rule})`);
}
