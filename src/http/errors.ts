// The one place where error types become HTTP statuses and the `{error: {type, message}}` body.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError, type ErrorType } from '../core/errors.ts';

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
  timeout: 503,
  shutting_down: 503,
  cancelled: 499,
  backend: 500,
  internal: 500,
};

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

export function errorBody(type: ErrorType, message: string) {
  return { error: { type, message } };
}

interface SchemaError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: unknown;
}

/** One schema (ajv) error as a message naming the field, e.g. `body/passages/1 must be string`. */
export function validationMessage(v: SchemaError, context = 'body'): string {
  let message = `${context}${v.instancePath ?? ''} ${v.message ?? 'is invalid'}`;
  const params = v.params as Record<string, unknown> | undefined;
  if (v.keyword === 'additionalProperties' && params?.additionalProperty) message += `: ${String(params.additionalProperty)}`;
  if (v.keyword === 'enum' && Array.isArray(params?.allowedValues)) message += `: ${params.allowedValues.join(' | ')}`;
  return message;
}

function fromFastify(err: FastifyError, request: FastifyRequest): ServiceError | undefined {
  if (err.validation && err.validation.length > 0) {
    return new ServiceError('validation', validationMessage(err.validation[0]!, err.validationContext ?? 'body'));
  }
  switch (err.statusCode) {
    case 413:
      return new ServiceError('too_large', err.message);
    case 415: {
      const ct = request.headers['content-type'];
      return new ServiceError('unsupported_media_type', `${err.message}: ${ct ? `Content-Type ${JSON.stringify(ct.slice(0, 100))}` : 'no Content-Type'}; send application/json`);
    }
    case 404:
      return new ServiceError('not_found', err.message);
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new ServiceError('bad_request', err.message);
  return undefined;
}

/** A known path asked with a method it does not take (TRACE /rerank): 405 with Allow; undefined otherwise. */
function methodNotAllowed(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  const path = request.url.split('?')[0]!;
  const allowed = METHODS.filter((method) => method !== request.method && app.hasRoute({ url: path, method }));
  if (allowed.length === 0 || app.hasRoute({ url: path, method: request.method as (typeof METHODS)[number] })) return undefined;
  reply.header('allow', allowed.join(', '));
  return reply.status(405).send(errorBody('method_not_allowed', `${request.method} is not allowed on ${path}: use ${allowed.join(' or ')}`));
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
      const status = STATUS[known.type];
      if (known.type === 'unauthorized') reply.header('www-authenticate', 'Bearer realm="ko-rerank"');
      if (known.retryAfterS !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(known.retryAfterS))));
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
    return methodNotAllowed(app, request, reply) ?? reply.status(404).send(errorBody('not_found', `route ${request.method} ${path} not found`));
  });
}
