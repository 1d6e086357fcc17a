// Errors are values with a type; src/http/errors.ts maps each type to an HTTP status in one place.
export type ErrorType =
  | 'bad_request'
  | 'unauthorized'
  | 'validation'
  | 'too_large'
  | 'unsupported_media_type'
  | 'not_acceptable'
  | 'not_found'
  | 'method_not_allowed'
  | 'not_ready'
  | 'overloaded'
  | 'timeout'
  | 'deadline_exceeded'
  | 'shutting_down'
  | 'cancelled'
  | 'backend'
  | 'internal';

export class ServiceError extends Error {
  constructor(
    readonly type: ErrorType,
    message: string,
    /** Seconds the client should wait before retrying (sent as Retry-After). */
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}
