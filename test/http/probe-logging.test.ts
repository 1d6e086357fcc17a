// Orchestrator probes (/health, /ready, /ping, /metrics) are logged at debug, never at info: a Docker HEALTHCHECK, a
// kubelet or SageMaker probing every few seconds must not fill the log. Other routes keep their info access log.
// The real process at LOG_LEVEL=debug, its log lines parsed.
import t from 'tap';
import { spawnServer } from '../helpers/process.ts';
import { isProbe } from '../../src/app.ts';

t.test('isProbe: the four probe paths, with or without a query string, and nothing else', async (t) => {
  for (const u of ['/health', '/ready', '/ping', '/metrics', '/metrics?name=x', '/ping?']) t.ok(isProbe(u), u);
  for (const u of ['/rerank', '/invocations', '/info', '/healthz', '/ready/x', '/', undefined])
    t.notOk(isProbe(u), String(u));
});

t.test('probes log at debug only; /rerank keeps its info access log', async (t) => {
  const p = await spawnServer({ LOG_LEVEL: 'debug' });
  t.teardown(() => p.kill());
  for (const path of ['/health', '/ready', '/ping', '/metrics'])
    t.equal((await fetch(p.base + path)).status, 200, path);
  const r = await fetch(p.base + '/rerank', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '수도는?', passages: ['서울은 수도이다.', '김치'] }),
  });
  t.equal(r.status, 200);
  await new Promise((r) => setTimeout(r, 300));
  const lines = p
    .log()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string; req?: { url?: string }; res?: { statusCode?: number } });
  const about = (path: string) => lines.filter((l) => l.req?.url === path);
  for (const path of ['/health', '/ready', '/ping', '/metrics']) {
    const own = about(path);
    t.ok(own.length >= 1, `${path} is logged`);
    t.same(
      own.filter((l) => l.level >= 30),
      [],
      `${path}: nothing at info or above`,
    );
    t.ok(
      own.some((l) => l.level === 20 && l.msg === 'probe completed' && l.res?.statusCode === 200),
      `${path} at debug`,
    );
  }
  t.notMatch(
    p.log(),
    /FSTDEP|DeprecationWarning/,
    'no deprecation warning (fastify 5 logController, not the top-level option)',
  );
  const rerank = about('/rerank');
  t.ok(
    rerank.some((l) => l.level === 30 && l.msg === 'incoming request'),
    '/rerank: incoming request at info',
  );
});
