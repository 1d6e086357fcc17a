// The one place where error types become HTTP statuses and the `{error: {type, message}}` body.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError, type ErrorType } from '../core/errors.ts';
import { errorMessageKey } from './dialects/common.ts';

const STATUS: Record<ErrorType, number> = {
  bad_request: 400,
  unauthorized: 401,
  validation: 422,
  too_large: 413,
  unsupported_media_type: 415,
  not_acceptable: 406,
  not_found: 404,
  method_not_allowed: 405,
  not_ready: 503,
  overloaded: 429,
  // The server's REQUEST_TIMEOUT_MS passed (with Retry-After): the server was too busy.
  timeout: 503,
  // The request's own timeout_ms passed: the client's deadline, as gRPC's DEADLINE_EXCEEDED maps to 504. Not 408,
  // which says the request never arrived in full and which browsers and proxies retry on their own.
  deadline_exceeded: 504,
  shutting_down: 503,
  cancelled: 499,
  backend: 500,
  internal: 500,
};

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

const statusOf = (e: ServiceError) => STATUS[e.type];

export function errorBody(type: ErrorType, message: string) {
  return { error: { type, message } };
}

/** An ajv error (ajv runs with verbose: parentSchema and data are there). */
export interface SchemaError {
  instancePath?: string;
  schemaPath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
  parentSchema?: unknown;
  data?: unknown;
}

const COMBINATORS = new Set(['anyOf', 'oneOf']);

/** The schema's own message for a refusal by this keyword (x-error-<keyword>), if it has one. */
export function ownMessage(v: SchemaError): string | undefined {
  if (v.keyword === undefined || typeof v.parentSchema !== 'object' || v.parentSchema === null) return undefined;
  const message = (v.parentSchema as Record<string, unknown>)[errorMessageKey(v.keyword)];
  return typeof message === 'string' ? message : undefined;
}

const depth = (e: SchemaError) => (e.instancePath ?? '').split('/').length;
/** The error deepest in the body, the first of those. */
const deepest = <E extends SchemaError>(errors: readonly E[]) =>
  errors.reduce<E | undefined>((best, e) => (best === undefined || depth(e) > depth(best) ? e : best), undefined);

/**
 * The error to report out of ajv's list: where a value matches none of a union's shapes, ajv lists each shape's first
 * error and then the union's (anyOf / oneOf). The deepest in the body of the shapes' errors that the schema explains
 * wins (that shape got furthest: it was meant), then the union's own message, then the deepest shape's error.
 */
export function pickError<E extends SchemaError>(errors: readonly E[]): E | undefined {
  const shapes = errors.filter((e) => !COMBINATORS.has(e.keyword ?? ''));
  return (
    deepest(shapes.filter((e) => ownMessage(e))) ??
    errors.find((e) => COMBINATORS.has(e.keyword ?? '') && ownMessage(e)) ??
    deepest(shapes) ??
    errors[0]
  );
}

const shown = (value: unknown) => {
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 100 ? `${json.slice(0, 100)}...` : json;
};

/** oneOf of `{required: [name]}` shapes that more than one matched: `: got a and b`. */
function severalMatched(v: SchemaError): string {
  const passing = v.params?.passingSchemas;
  const shapes = (v.parentSchema as { oneOf?: { required?: string[] }[] } | undefined)?.oneOf;
  if (v.keyword !== 'oneOf' || !Array.isArray(passing) || !shapes) return '';
  const names = passing.flatMap((i: number) => shapes[i]?.required ?? []);
  return names.length > 1 ? `, got ${names.join(' and ')}` : '';
}

/** One schema (ajv) error as a message naming the field, e.g. `body/passages/1 must be string`. */
export function validationMessage(v: SchemaError, context = 'body'): string {
  const own = ownMessage(v);
  if (own !== undefined)
    return `${context}${v.instancePath ?? ''} ${own.replaceAll('{value}', () => shown(v.data))}${severalMatched(v)}`;
  let message = `${context}${v.instancePath ?? ''} ${v.message ?? 'is invalid'}`;
  const params = v.params;
  if (v.keyword === 'additionalProperties' && params?.additionalProperty)
    message += `: ${String(params.additionalProperty)}`;
  if (v.keyword === 'enum' && Array.isArray(params?.allowedValues)) message += `: ${params.allowedValues.join(' | ')}`;
  return message;
}

function fromFastify(err: FastifyError, request: FastifyRequest): ServiceError | undefined {
  if (err.validation && err.validation.length > 0) {
    return new ServiceError(
      'validation',
      validationMessage(pickError(err.validation as SchemaError[])!, err.validationContext ?? 'body'),
    );
  }
  switch (err.statusCode) {
    case 413:
      return new ServiceError('too_large', err.message);
    case 415: {
      const ct = request.headers['content-type'];
      return new ServiceError(
        'unsupported_media_type',
        `${err.message}: ${ct ? `Content-Type ${JSON.stringify(ct.slice(0, 100))}` : 'no Content-Type'}; send application/json`,
      );
    }
    case 404:
      return new ServiceError('not_found', err.message);
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
    return new ServiceError('bad_request', err.message);
  return undefined;
}

/** A known path asked with a method it does not take (TRACE /rerank): 405 with Allow; undefined otherwise. */
function methodNotAllowed(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply | undefined {
  const path = request.url.split('?')[0]!;
  const allowed = METHODS.filter((method) => method !== request.method && app.hasRoute({ url: path, method }));
  if (allowed.length === 0 || app.hasRoute({ url: path, method: request.method as (typeof METHODS)[number] }))
    return undefined;
  reply.header('allow', allowed.join(', '));
  return reply
    .status(405)
    .send(errorBody('method_not_allowed', `${request.method} is not allowed on ${path}: use ${allowed.join(' or ')}`));
}

type SpecOperation = { tags?: string[]; responses?: Record<string, unknown>; [k: string]: unknown };
/** The methods an OpenAPI 3.0 path item can hold. */
const SPEC_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
/** Marks the operations methodNotAllowedInSpec adds (the docs' route table leaves them out). */
export const NOT_ALLOWED_MARK = 'x-method-not-allowed';

/**
 * The spec lists every status the server answers, 405s included: on each path, every method it does not take (HEAD
 * is taken wherever GET is) becomes an operation answering 405 with Allow, as methodNotAllowed does. No key is needed
 * for that answer (the error handler answers 405 before an unauthorized: the path is in the spec anyway), so these
 * operations have no security and no 401. Used as the spec's transform.
 */
export function methodNotAllowedInSpec<S extends { paths?: object }>(spec: S): S {
  const paths: Record<string, Record<string, SpecOperation>> = {};
  for (const [path, item] of Object.entries((spec.paths ?? {}) as Record<string, Record<string, SpecOperation>>)) {
    const own = SPEC_METHODS.filter((m) => item[m]);
    const taken = new Set<string>(own.includes('get') ? [...own, 'head'] : own);
    const allow = METHODS.filter((m) => taken.has(m.toLowerCase())).join(', ');
    const tags = own.map((m) => item[m]!.tags).find((t) => t !== undefined);
    const added: Record<string, SpecOperation> = {};
    for (const m of SPEC_METHODS) {
      if (taken.has(m)) continue;
      added[m] = {
        summary: `Not allowed: ${m.toUpperCase()} ${path} is answered 405 (use ${allow})`,
        ...(tags ? { tags: [...tags] } : {}),
        [NOT_ALLOWED_MARK]: true,
        security: [],
        responses: { 405: { $ref: '#/components/responses/MethodNotAllowed' } },
      };
    }
    paths[path] = { ...item, ...added };
  }
  // A fresh object each time: a shared one would be written as a YAML anchor.
  const error = () => ({ 'application/json': { schema: { $ref: '#/components/schemas/ErrorResponse' } } });
  const components = (spec as { components?: { responses?: object } }).components ?? {};
  const responses = {
    ...components.responses,
    MethodNotAllowed: {
      description: 'method_not_allowed: the path does not take this method; Allow lists the ones it takes.',
      headers: { Allow: { description: 'The methods the path takes, e.g. `POST`.', schema: { type: 'string' } } },
      content: error(),
    },
  };
  return { ...spec, paths, components: { ...components, responses } };
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    // A method Fastify parses a body for (QUERY, ...) fails on its body before the 404 handler: 405 all the same.
    if (request.is404) {
      const answered = methodNotAllowed(app, request, reply);
      if (answered) return answered;
    }
    const known = err instanceof ServiceError ? err : fromFastify(err, request);
    if (known) {
      const status = statusOf(known);
      if (known.type === 'unauthorized') reply.header('www-authenticate', 'Bearer realm="ko-rerank"');
      if (known.retryAfterS !== undefined)
        reply.header('retry-after', String(Math.max(1, Math.ceil(known.retryAfterS))));
      // 503s (not ready, timeout, shutting down) are expected under load: logged like the 4xx, without a stack.
      if (status >= 500 && status !== 503) request.log.error({ err }, known.message);
      else request.log.info({ errorType: known.type, status }, `request rejected: ${known.message}`);
      return reply.status(status).send(errorBody(known.type, known.message));
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send(errorBody('internal', `internal error (request id ${request.id})`));
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    return (
      methodNotAllowed(app, request, reply) ??
      reply.status(404).send(errorBody('not_found', `route ${request.method} ${path} not found`))
    );
  });
}
