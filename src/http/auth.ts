// API keys: when API_KEYS is set, every route needs `Authorization: Bearer <key>` except the PUBLIC_ROUTES.
// Default-on: a route added later is protected unless it is named public. Keys are compared in constant time
// (SHA-256 digests with timingSafeEqual, against every key) and never logged.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { ServiceError } from '../core/errors.ts';

const digest = (key: string) => createHash('sha256').update(key, 'utf8').digest();

/** Whether a route pattern (as registered, e.g. /docs/static/*) is public: exact match, or prefix for `...*`. */
export function isPublic(route: string, publicRoutes: readonly string[]): boolean {
  return publicRoutes.some((p) => (p.endsWith('*') ? route.startsWith(p.slice(0, -1)) : route === p));
}

/** True when the presented key equals one of the keys. Every key is compared, whatever the outcome. */
export function keyMatches(presented: string, digests: readonly Buffer[]): boolean {
  const d = digest(presented);
  let ok = false;
  for (const k of digests) ok = timingSafeEqual(d, k) || ok;
  return ok;
}

function bearer(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

/** Adds the auth check as the first onRequest hook of the app (before body parsing). No-op without keys. */
export function installAuth(app: FastifyInstance, config: Config): void {
  if (config.apiKeys.length === 0) return;
  const digests = config.apiKeys.map(digest);
  app.addHook('onRequest', async (request) => {
    // Unknown routes are not public: without a key, even a 404 is not given away.
    const route = request.routeOptions.url;
    if (route !== undefined && isPublic(route, config.publicRoutes)) return;
    const token = bearer(request);
    if (token === undefined)
      throw new ServiceError('unauthorized', 'missing API key: send Authorization: Bearer <key>');
    if (!keyMatches(token, digests)) throw new ServiceError('unauthorized', 'invalid API key');
  });
}
