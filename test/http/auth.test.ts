// API keys: every registered route outside PUBLIC_ROUTES rejects a request without a key and with a wrong key,
// the public ones stay open; keys from a file; constant-time check; keys never reach the logs.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { REDACT, buildApp } from '../../src/app.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { createEngine } from '../../src/compose.ts';
import { isPublic, keyMatches } from '../../src/http/auth.ts';
import { testConfig } from '../helpers/server.ts';
import { createHash } from 'node:crypto';

const KEYS = ['k-live-3f9a2c7d1e', 'k-live-second-77b1'];
const dir = mkdtempSync(path.join(tmpdir(), 'ko-rerank-keys-'));
const keyFile = path.join(dir, 'keys.txt');
writeFileSync(keyFile, `# API keys\n${KEYS[0]}\n\n${KEYS[1]}\n`);

t.test('API_KEYS: a comma-separated list or a key file; bad values fail without echoing keys', async (t) => {
  t.same(loadConfig([], { API_KEYS: `${KEYS[0]}, ${KEYS[1]}` }).apiKeys, KEYS);
  t.same(loadConfig([], { API_KEYS: keyFile }).apiKeys, KEYS, 'a path to an existing file: one key a line, # comments');
  t.same(loadConfig([], {}).apiKeys, [], 'unset: auth off');
  for (const bad of ['a,,b', 'has space', '/no/such/keys.txt']) {
    let err: unknown;
    try {
      loadConfig([], { API_KEYS: bad });
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof ConfigError, `refused: ${bad}`);
    t.notMatch((err as Error).message, bad === 'has space' ? /has space/ : /^$/, 'the key is not echoed');
  }
  t.same(loadConfig([], { PUBLIC_ROUTES: '/health,/docs*' }).publicRoutes, ['/health', '/docs*']);
  t.throws(() => loadConfig([], { PUBLIC_ROUTES: 'health' }), ConfigError);
});

t.test('isPublic and keyMatches', async (t) => {
  const pub = ['/health', '/docs*'];
  t.ok(isPublic('/health', pub));
  t.ok(isPublic('/docs', pub));
  t.ok(isPublic('/docs/static/*', pub));
  t.notOk(isPublic('/health/x', pub));
  t.notOk(isPublic('/rerank', pub));
  const digests = KEYS.map((k) => createHash('sha256').update(k).digest());
  t.ok(keyMatches(KEYS[1]!, digests));
  t.notOk(keyMatches(KEYS[1]!.slice(0, -1), digests));
  t.notOk(keyMatches('', digests));
});

// The server: keys from the file, a captured log at trace level.
const lines: string[] = [];
const sink = new Writable({
  write(chunk, _enc, cb) {
    lines.push(String(chunk));
    cb();
  },
});
const config = {
  ...testConfig(),
  ...loadConfig([], { API_KEYS: keyFile, DEVICE: 'cpu' }),
  host: '127.0.0.1',
  port: 0,
  logLevel: 'trace' as const,
};
const log = pino({ level: 'trace', redact: REDACT }, sink);
const engine = createEngine(config, { log });
await engine.start();
const routes: { method: string; url: string }[] = [];
const app = await buildApp(config, engine, {
  logger: log,
  onRoute: (r) =>
    (Array.isArray(r.method) ? r.method : [r.method]).forEach((m) => routes.push({ method: m, url: r.url })),
});
await app.listen({ host: '127.0.0.1', port: 0 });
const addr = app.server.address();
const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
t.teardown(async () => {
  await app.close();
  await engine.close();
});

const send = (method: string, url: string, key?: string, body?: unknown) =>
  fetch(base + url.replace(/:\w+/g, 'x').replace(/\*$/, 'index.html'), {
    method,
    headers: {
      ...(key !== undefined ? { authorization: key } : {}),
      ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
    },
    body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
  });

t.test('every registered route: non-public ones reject no key and a wrong key, public ones are open', async (t) => {
  const inference = ['/rerank', '/score', '/v1/score', '/v1/rerank', '/v2/rerank', '/invocations', '/predict'];
  for (const url of inference)
    t.ok(
      routes.some((r) => r.method === 'POST' && r.url === url),
      `POST ${url} is registered`,
    );
  t.ok(routes.length > 10, `${routes.length} routes enumerated`);
  const protectedRoutes = routes.filter((r) => !isPublic(r.url, config.publicRoutes));
  for (const url of [...inference, '/info'])
    t.ok(
      protectedRoutes.some((r) => r.url === url),
      `${url} is protected`,
    );
  for (const { method, url } of routes) {
    if (method === 'OPTIONS') continue;
    const open = isPublic(url, config.publicRoutes);
    const none = await send(method, url);
    const wrong = await send(method, url, `Bearer ${KEYS[0]}x`);
    const right = await send(method, url, `Bearer ${KEYS[1]}`);
    if (open) {
      t.not(none.status, 401, `${method} ${url} is public`);
      continue;
    }
    for (const [what, res] of [
      ['no key', none],
      ['a wrong key', wrong],
    ] as const) {
      t.equal(res.status, 401, `${method} ${url} with ${what}: 401`);
      t.equal(res.headers.get('www-authenticate'), 'Bearer realm="ko-rerank"');
      if (method !== 'HEAD') {
        const body = (await res.json()) as any;
        t.equal(body.error.type, 'unauthorized');
      }
    }
    t.not(right.status, 401, `${method} ${url} with a right key: ${right.status}`);
  }
});

t.test('the right key serves; other schemes and malformed headers do not', async (t) => {
  const body = { query: '대한민국의 수도는?', passages: ['서울은 대한민국의 수도이다.'] };
  t.equal((await send('POST', '/rerank', `Bearer ${KEYS[0]}`, body)).status, 200);
  t.equal((await send('POST', '/rerank', `bearer ${KEYS[1]}`, body)).status, 200, 'the scheme is case-insensitive');
  t.equal((await send('POST', '/rerank', KEYS[0], body)).status, 401, 'a bare key is not a Bearer token');
  t.equal((await send('POST', '/rerank', `Basic ${KEYS[0]}`, body)).status, 401);
  t.equal((await send('POST', '/rerank', 'Bearer ', body)).status, 401);
  const unknown = await send('POST', '/no-such-route', undefined, {});
  t.equal(unknown.status, 401, 'unknown routes are not public either');
  t.equal((await send('POST', '/no-such-route', `Bearer ${KEYS[0]}`, {})).status, 404);
  const bad = await send('POST', '/rerank', undefined, '{not json');
  t.equal(bad.status, 401, 'checked before the body is parsed');
});

t.test('the spec declares the bearer scheme; public routes opt out', async (t) => {
  const spec = (await (await send('GET', '/openapi.json')).json()) as any;
  t.equal(spec.components.securitySchemes.bearerAuth.scheme, 'bearer');
  t.same(spec.security, [{ bearerAuth: [] }]);
  t.same(spec.paths['/health'].get.security, []);
  t.same(spec.paths['/ping'].get.security, []);
  t.equal(spec.paths['/rerank'].post.security, undefined, '/rerank uses the global requirement');
  for (const p of ['/v1/rerank', '/v2/rerank', '/invocations']) t.ok(spec.paths[p]?.post, `${p} is documented`);
  t.ok(spec.paths['/ping']?.get, '/ping is documented');
  t.ok(spec.components.schemas.Chunking, 'chunking options are a named component');
});

t.test('keys never reach the logs, even at trace level', async (t) => {
  const all = lines.join('');
  t.ok(all.length > 1000, 'the log captured requests');
  t.match(all, /request rejected: (missing|invalid) API key/);
  for (const k of KEYS) t.notOk(all.includes(k), 'no key in the log');
  t.notOk(all.includes(KEYS[0]!.slice(0, 10)), 'not even the wrong key (a prefix of a real one)');
  // pino redacts the authorization header wherever a serializer puts it.
  const out: string[] = [];
  const probe = pino({ redact: REDACT }, new Writable({ write: (c, _e, cb) => (out.push(String(c)), cb()) }));
  probe.info({ req: { headers: { authorization: `Bearer ${KEYS[0]}` } } }, 'probe');
  t.notOk(out.join('').includes(KEYS[0]!), 'redacted');
});

t.test('PUBLIC_ROUTES is configurable: /metrics behind the key', async (t) => {
  const cfg = { ...config, logLevel: 'silent' as const, publicRoutes: ['/health', '/ready', '/ping'] };
  const app2 = await buildApp(cfg, engine);
  t.teardown(() => app2.close());
  t.equal((await app2.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
  t.equal(
    (await app2.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${KEYS[0]}` } })).statusCode,
    200,
  );
  t.equal((await app2.inject({ method: 'GET', url: '/health' })).statusCode, 200);
  t.equal((await app2.inject({ method: 'GET', url: '/docs' })).statusCode, 401);
});
