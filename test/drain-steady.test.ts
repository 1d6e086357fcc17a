// Zero loss on SIGTERM under a steady stream of new connections, against the real process: every
// request whose connection the server accepted gets a complete response (200, or 503 shutting_down in our JSON shape
// with Retry-After and Connection: close), and the listener closes only after that. A connection attempt after the
// close is refused (ECONNREFUSED: never accepted, the client retries another replica); nothing is reset.
// The clients model a load balancer: they keep opening connections until ENDPOINT_DELAY_MS after the first 503
// shutting_down (the time an endpoint removal takes to propagate), longer than the drain itself takes here.
import http from 'node:http';
import t from 'tap';
import { spawnServer } from './helpers/process.ts';

const ENDPOINT_DELAY_MS = 2500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const small = JSON.stringify({
  query: '대한민국의 수도는?',
  passages: ['서울은 대한민국의 수도이다.', '김치는 발효 음식이다.'],
});
const big = JSON.stringify({
  query: '대한민국의 수도는?',
  passages: Array.from(
    { length: 300 },
    (_, i) => `${i}: ${'한국의 여러 도시와 음식, 역사에 관한 긴 문단이다. '.repeat(8)}`,
  ),
});

type Outcome = { kind: 'ok' } | { kind: 'shutting_down' } | { kind: 'refused' } | { kind: 'lost'; detail: string };

/**
 * One request; `agent` false = a fresh socket. Lost: the connection was made but no complete, well-formed answer came.
 */
function request(port: number, body: string, agent: http.Agent | false): Promise<Outcome> {
  return new Promise((resolve) => {
    let connected = false;
    let reused = false;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/rerank',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('error', (e) => resolve({ kind: 'lost', detail: `response error ${e.message}` }));
        res.on('end', () => {
          let parsed: any;
          try {
            parsed = JSON.parse(text);
          } catch {
            return resolve({ kind: 'lost', detail: `${res.statusCode} not JSON: ${text.slice(0, 100)}` });
          }
          if (res.statusCode === 200 && Array.isArray(parsed.results)) return resolve({ kind: 'ok' });
          if (
            res.statusCode === 503 &&
            parsed.error?.type === 'shutting_down' &&
            res.headers['retry-after'] &&
            res.headers.connection === 'close'
          ) {
            return resolve({ kind: 'shutting_down' });
          }
          resolve({ kind: 'lost', detail: `${res.statusCode} ${JSON.stringify(res.headers)} ${text.slice(0, 200)}` });
        });
      },
    );
    req.on('socket', (s) => {
      if (!s.connecting) connected = reused = true;
      else s.once('connect', () => (connected = true));
    });
    req.on('error', (e: Error & { code?: string }) => {
      if (!connected && e.code === 'ECONNREFUSED') resolve({ kind: 'refused' });
      else
        resolve({
          kind: 'lost',
          detail: `${e.code ?? e.message} after connecting (${agent ? 'keep-alive' : 'fresh'} socket${reused ? ', reused' : ''})`,
        });
    });
    req.end(body);
  });
}

t.test('SIGTERM with clients connecting at a steady rate: zero lost', async (t) => {
  const p = await spawnServer({ SHUTDOWN_GRACE_MS: '20000' });
  t.teardown(() => p.kill());
  const outcomes: Outcome[] = [];
  let stop = false;
  let firstShuttingDown = 0;
  const inflight = new Set<Promise<void>>();
  const track = (o: Promise<Outcome>) => {
    const done = o.then((x) => {
      outcomes.push(x);
      if (x.kind === 'shutting_down' && !firstShuttingDown) {
        firstShuttingDown = performance.now();
        setTimeout(() => (stop = true), ENDPOINT_DELAY_MS);
      }
    });
    inflight.add(done);
    void done.finally(() => inflight.delete(done));
  };
  // New connections every 8 ms, and 3 keep-alive clients in closed loops.
  const steady = (async () => {
    while (!stop) {
      track(request(p.port, small, false));
      await sleep(8);
    }
  })();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 3 });
  const loops = Array.from({ length: 3 }, async () => {
    while (!stop) {
      const o = request(p.port, small, agent);
      track(o);
      const r = await o;
      if (r.kind !== 'ok') await sleep(5);
    }
  });
  await sleep(1500);
  // Work running and queued when the signal comes, so the drain lasts a while under the steady stream.
  const bigs = [request(p.port, big, false), request(p.port, big, false)];
  await sleep(200);
  p.child.kill('SIGTERM');
  const exit = await p.exit;
  const exitAt = performance.now();
  await steady;
  await Promise.all(loops);
  await Promise.all([...inflight]);
  agent.destroy();
  const bigOutcomes = await Promise.all(bigs);
  t.same(await request(p.port, small, false), { kind: 'refused' }, 'the port is closed after the exit');
  const count = (k: Outcome['kind']) => outcomes.filter((o) => o.kind === k).length;
  const lost = outcomes.filter((o): o is Extract<Outcome, { kind: 'lost' }> => o.kind === 'lost');
  t.comment(
    `${outcomes.length} requests: ${count('ok')} ok, ${count('shutting_down')} 503 shutting_down, ${count('refused')} refused, ${lost.length} lost`,
  );
  t.same(
    lost.map((l) => l.detail),
    [],
    'no request on an accepted connection went unanswered or got a foreign 503',
  );
  t.same(
    bigOutcomes.map((o) => o.kind),
    ['ok', 'ok'],
    'work accepted before the signal finished',
  );
  t.ok(count('shutting_down') > 0, 'requests during the drain were told 503 shutting_down');
  t.ok(exitAt - firstShuttingDown > ENDPOINT_DELAY_MS, 'the listener stayed open until new connections stopped');
  t.equal(exit?.code, 0, `exit 0\n${p.log().slice(-1500)}`);
});
