// Slow and silent clients are cut off in bounded time and cannot take every socket, with real
// sockets against a real server: bodies sent a byte at a time, chunked bodies that never end, connections that send
// nothing, idle keep-alive connections, an unauthenticated client trickling a body after its 401, and a flood of
// connections past MAX_CONNECTIONS. Meanwhile an ordinary request is still answered.
import net from 'node:net';
import t from 'tap';
import { startServer, type TestServer } from '../helpers/server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rerank = JSON.stringify({
  query: '대한민국의 수도는?',
  passages: ['서울은 대한민국의 수도이다.', '김치는 발효 음식이다.'],
});

interface Probe {
  closedAt: Promise<number>;
  text(): string;
  socket: net.Socket;
}

/** Opens a socket and runs `script` on it once connected; closedAt resolves with ms from the open to the close. */
function probe(port: number, script: (s: net.Socket) => void = () => {}): Probe {
  const t0 = performance.now();
  const socket = net.connect(port, '127.0.0.1');
  let got = '';
  socket.setEncoding('utf8');
  socket.on('data', (d) => (got += d));
  socket.on('error', () => {});
  socket.on('connect', () => script(socket));
  const closedAt = new Promise<number>((r) => socket.once('close', () => r(performance.now() - t0)));
  return { closedAt, text: () => got, socket };
}

/** Writes one byte every `everyMs` while the socket is open. */
function trickle(s: net.Socket, everyMs: number, byte = 'a'): void {
  const timer = setInterval(() => (s.writable ? s.write(byte) : clearInterval(timer)), everyMs);
  s.once('close', () => clearInterval(timer));
}

const head = (path: string, extra = '') =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${extra}`;

async function ordinary(s: TestServer) {
  const r = await s.post('/rerank', rerank);
  return r.status === 200 && r.body.results[0].index === 0;
}

t.test('trickled, unfinished, silent and idle connections are all closed in bounded time', async (t) => {
  const s = await startServer({ headersTimeoutMs: 1000, bodyTimeoutMs: 2000, keepAliveTimeoutMs: 1000 });
  t.teardown(() => s.close());
  const port = Number(new URL(s.base).port);
  const trickled = Array.from({ length: 50 }, () =>
    probe(
      port,
      (sock) => (sock.write(head('/rerank', `Content-Length: ${rerank.length}\r\n\r\n`)), trickle(sock, 100)),
    ),
  );
  const chunked = Array.from({ length: 20 }, () =>
    probe(port, (sock) => sock.write(head('/rerank', 'Transfer-Encoding: chunked\r\n\r\n5\r\n{"que\r\n'))),
  );
  const silent = Array.from({ length: 20 }, () => probe(port));
  const slowHeaders = Array.from({ length: 10 }, () =>
    probe(port, (sock) => (sock.write('POST /rerank HTTP/1.1\r\n'), trickle(sock, 100, 'X'))),
  );
  const idle = Array.from({ length: 100 }, () =>
    probe(port, (sock) => sock.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')),
  );
  await sleep(300);
  t.ok(await ordinary(s), 'an ordinary request is answered while 200 slow or idle sockets are open');
  const limit = 6000;
  const check = async (name: string, probes: Probe[], status: RegExp) => {
    const times = await Promise.all(
      probes.map((p) => Promise.race([p.closedAt, sleep(limit + 2000).then(() => Infinity)])),
    );
    const worst = Math.max(...times);
    t.ok(worst < limit, `${probes.length} ${name}: all closed by the server within ${Math.round(worst)} ms`);
    const odd = probes.map((p) => p.text()).filter((x) => !status.test(x));
    t.same(
      odd.map((x) => x.slice(0, 300)),
      [],
      `${name}: ${JSON.stringify(probes[0]!.text().slice(0, 200))}`,
    );
  };
  await check(
    'bodies trickled a byte at a time',
    trickled,
    /^HTTP\/1\.1 408 .*\r\n\r\n\{"error":\{"type":"timeout","message":"the request was not received in time/s,
  );
  // Chunked bodies are counted at BODY_LIMIT against MAX_INFLIGHT_BODY_BYTES: past 16 of them, 429 at once.
  await check('chunked bodies that never end', chunked, /^HTTP\/1\.1 (408|429) /);
  await check('silent connections', silent, /^HTTP\/1\.1 408 |^$/);
  await check('headers trickled', slowHeaders, /^HTTP\/1\.1 408 /);
  await check('idle keep-alive connections', idle, /^HTTP\/1\.1 200 /);
  t.ok(await ordinary(s), 'and answered after');
});

t.test('an unauthenticated client trickling a body is cut off soon after its 401', async (t) => {
  // BODY_TIMEOUT_MS is long here: what cuts the client off is the early-response linger.
  const s = await startServer({ apiKeys: ['k-test-1'], bodyTimeoutMs: 60_000 });
  t.teardown(() => s.close());
  const port = Number(new URL(s.base).port);
  const p = probe(port, (sock) => (sock.write(head('/rerank', 'Content-Length: 100000\r\n\r\n')), trickle(sock, 50)));
  const closed = await Promise.race([p.closedAt, sleep(10_000).then(() => Infinity)]);
  t.match(p.text(), /^HTTP\/1\.1 401 /, 'the client got its 401');
  t.ok(closed < 5000, `the connection was closed ${Math.round(closed)} ms after it opened`);
});

t.test('a large body answered early (413) reaches the client as a 413, not a reset', async (t) => {
  const s = await startServer({ bodyLimit: 64 * 1024 });
  t.teardown(() => s.close());
  for (let i = 0; i < 10; i++) {
    const res = await fetch(s.base + '/rerank', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(2 * 1024 * 1024),
    }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as any }),
      (e: Error & { cause?: { code?: string } }) => ({ status: 0, body: e.cause?.code ?? e.message }),
    );
    t.equal(res.status, 413, `413 #${i}: ${JSON.stringify(res.body).slice(0, 120)}`);
  }
});

t.test(
  'a 100 MB body with Content-Length gets its early 413 JSON, not a reset, whether the client reads early or late',
  async (t) => {
    const s = await startServer({});
    t.teardown(() => s.close());
    const port = Number(new URL(s.base).port);
    const MB = 1024 * 1024;
    const chunk = Buffer.alloc(MB, 0x20);
    // A client that sends its whole body before it reads the answer, as Python's http.client (requests) does: the
    // server must read and throw away the rest of the body, not close under it (which resets the connection).
    for (let round = 0; round < 2; round++) {
      const sock = net.connect(port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      sock.pause();
      let error: (Error & { code?: string }) | undefined;
      sock.on('error', (e) => (error = e));
      sock.write(head('/rerank', `Content-Length: ${100 * MB}\r\n\r\n`));
      for (let i = 0; i < 100 && !error && !sock.destroyed; i++) {
        if (!sock.write(chunk)) await new Promise((r) => (sock.once('drain', r), sock.once('close', r)));
      }
      t.equal(error?.code, undefined, `#${round}: the 100 MB were sent without a reset`);
      let got = '';
      sock.setEncoding('utf8');
      sock.on('data', (d) => (got += d));
      sock.resume();
      await Promise.race([new Promise((r) => sock.once('close', r)), sleep(10_000)]);
      sock.destroy();
      t.match(got, /^HTTP\/1\.1 413 /, `#${round}: 413 read after the whole body was sent`);
      t.match(got, /\r\nconnection: close\r\n/i, 'Connection: close');
      t.match(got, /\{"error":\{"type":"too_large","message":"Request body is too large/, 'the JSON error');
      t.equal(error?.code, undefined, `#${round}: no reset while reading the answer`);
    }
    // fetch (undici) reads the answer while it sends.
    const big = Buffer.alloc(100 * MB, 0x20);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(s.base + '/rerank', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: big,
      }).then(
        async (r) => ({ status: r.status, body: (await r.json()) as any }),
        (e: Error & { cause?: { code?: string } }) => ({ status: 0, body: e.cause?.code ?? e.message }),
      );
      t.equal(res.status, 413, `fetch #${i}: ${JSON.stringify(res.body).slice(0, 120)}`);
      t.equal(res.body.error?.type, 'too_large');
    }
    t.ok(await ordinary(s), 'the server still serves');
  },
);

t.test('MAX_CONNECTIONS: connections past the cap are closed at once, the server recovers once they go', async (t) => {
  const s = await startServer({ maxConnections: 20, headersTimeoutMs: 1500 });
  t.teardown(() => s.close());
  const port = Number(new URL(s.base).port);
  const held = Array.from({ length: 20 }, () => probe(port));
  await sleep(300);
  const extra = Array.from({ length: 10 }, () => probe(port));
  const extraTimes = await Promise.all(extra.map((p) => p.closedAt));
  t.ok(
    Math.max(...extraTimes) < 1000,
    `the 10 past the cap were closed at once (${Math.round(Math.max(...extraTimes))} ms)`,
  );
  await Promise.all(held.map((p) => p.closedAt));
  t.ok(await ordinary(s), 'served again once the silent connections were cut');
});
