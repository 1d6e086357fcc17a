// What every dialect's schemas share: refusal messages, the query and passage fragments, the error answers, and the
// client's abort signal.
import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';

/** The keywords whose refusal a schema may explain (refusal). */
export const EXPLAINED_KEYWORDS = [
  'minLength',
  'pattern',
  'enum',
  'minimum',
  'maximum',
  'minItems',
  'maxItems',
  'required',
  'oneOf',
  'anyOf',
] as const;
type Explained = (typeof EXPLAINED_KEYWORDS)[number];
/** `x-error-<keyword>`: an annotation, registered with ajv in app.ts and kept in the spec. */
export const errorMessageKey = (keyword: string) => `x-error-${keyword}`;

/**
 * `x-error-pattern: message` (and so on) on a schema: the message of a refusal by that keyword there, written after
 * the field's path (src/http/errors.ts); `{value}` is replaced by the value sent. For the constraints whose ajv
 * message would not say why. (A string per keyword, not one object: spec tools read an unknown keyword's object as
 * a subschema.)
 */
export const refusal = (messages: Partial<Record<Explained, string>>) =>
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
export const Query = (description = 'The search query; not empty or blank.') =>
  Type.String({
    minLength: 1,
    pattern: NOT_BLANK,
    description,
    ...refusal({ minLength: NOT_BLANK_MESSAGE, pattern: NOT_BLANK_MESSAGE }),
  });

export const Passages = (description: string) => Type.Array(Type.String(), { minItems: 1, description });

export const TIMEOUT_DOC =
  "This request's own deadline in milliseconds: when it passes the answer is 504 (type deadline_exceeded, no Retry-After) and pairs not yet scored are dropped. Capped by the server's REQUEST_TIMEOUT_MS, whose passing is answered 503 (type timeout, Retry-After).";
export const TimeoutMs = Type.Integer({ minimum: 1, description: TIMEOUT_DOC });

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      type: Type.String({
        description:
          'bad_request | unauthorized | validation | too_large | unsupported_media_type | not_acceptable | not_found | method_not_allowed | not_ready | overloaded | timeout | deadline_exceeded | shutting_down | internal | backend',
      }),
      message: Type.String(),
    }),
  },
  { $id: 'ErrorResponse' },
);

export const StatusResponse = Type.Object({ status: Type.String() }, { $id: 'StatusResponse' });

const errorRef = Type.Ref(ErrorResponse);
/** Declared by app.ts on every route outside PUBLIC_ROUTES (answered when API_KEYS is set). */
export const unauthorizedResponse = Type.Ref(ErrorResponse, {
  description: 'Missing or invalid API key (only when API_KEYS is set).',
});
export const errorResponses = {
  400: errorRef,
  413: errorRef,
  415: errorRef,
  422: errorRef,
  429: errorRef,
  500: errorRef,
  503: Type.Ref(ErrorResponse, {
    description:
      "not_ready (the model is loading), shutting_down, or timeout: the server's REQUEST_TIMEOUT_MS passed (with Retry-After).",
  }),
};
/** The routes whose bodies take timeout_ms: its passing is 504. */
export const deadlineResponses = {
  ...errorResponses,
  504: Type.Ref(ErrorResponse, {
    description:
      "deadline_exceeded: the request's own timeout_ms passed before it was scored (no Retry-After: the deadline was the client's; gRPC's DEADLINE_EXCEEDED).",
  }),
};

/** Aborts when the client goes away before the response is written, so queued pairs are dropped. */
export function clientSignal(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableEnded) ac.abort();
  });
  return ac.signal;
}
