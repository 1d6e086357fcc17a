// Errors are values with a type; src/http/errors.ts maps each type to an HTTP status in one place.
export type ErrorType =
  | 'bad_request'
  | 'unauthorized'
  | 'validation'
  | 'too_large'
  | 'unsupported_media_type'
  | 'not_found'
  | 'not_ready'
  | 'cancelled'
  | 'backend'
  | 'internal';

export class ServiceError extends Error {
  constructor(
    readonly type: ErrorType,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}
