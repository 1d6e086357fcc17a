// The JSON body parser: Fastify's own (prototype-poisoning checks included) behind two guards that run on the raw
// bytes first: the body must be valid UTF-8 (no silent U+FFFD replacement), and nested at most MAX_JSON_DEPTH deep.
// Bodies over BODY_LIMIT never get here (413). Each refusal is a 400 naming the problem.
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { ServiceError } from '../core/errors.ts';

/** No request shape nests deeper than 4; anything past this is refused before it is parsed. */
export const MAX_JSON_DEPTH = 32;

/** The deepest nesting of arrays/objects in a JSON text (bytes inside strings ignored); stops counting past `limit`. */
export function jsonDepth(body: Uint8Array, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

export function installJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    if (!isUtf8(bytes)) {
      done(new ServiceError('bad_request', 'body is not valid UTF-8: send JSON encoded as UTF-8'), undefined);
      return;
    }
    if (jsonDepth(bytes, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      done(
        new ServiceError('bad_request', `body nests arrays/objects more than ${MAX_JSON_DEPTH} levels deep`),
        undefined,
      );
      return;
    }
    void parse(request, bytes.toString('utf8'), done);
  });
}
