// `npm run bench -- chaos [--url http://host:port] [--api-key KEY] [--stuck-after-ms MS]`: faults and abuse against a
// running ko-rerank, with a verdict per check. Without --url it starts its own server (test/helpers/serve.ts --faults,
// short client timeouts, WATCHDOG_MS=2000) and also checks the SIGTERM drain. Checks:
//   slow clients   bodies sent a byte at a time, chunked bodies that never end, silent and idle keep-alive sockets:
//                  how many are still open --stuck-after-ms after they opened (default BODY_TIMEOUT_MS + 5 s);
//   heavy neighbour light 3-passage requests' p99 while a 1,000-passage request of long passages runs, against
//                  their unloaded p99 (the bar: within 3x);
//   large bodies   64 concurrent 3 MiB requests: every one answered (200/413/429), none reset;
//   worker death   POST /debug/fault exit then hang (only a test/helpers/serve.ts --faults server has it, else
//                  skipped): the service answers correctly again, and how long that took;
//   drain          (own server only) SIGTERM under new connections every 8 ms, a 100-passage request of long
//                  passages accepted just before: requests lost on accepted sockets, and that one answered 200.
// Exit code 0 when every check that ran passed, 1 otherwise. Output: one JSON report on stdout.
import http from 'node:http';
import net from 'node:net';
import { spawnServer, testServe, type ServerProcess } from '../test/helpers/process.ts';

const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

let own: ServerProcess | undefined;
let base = flag('--url');
const apiKey = flag('--api-key');
let stuckAfterMs = Number(flag('--stuck-after-ms') ?? 35_000);
if (!base) {
  log(
    'no --url: starting test/helpers/serve.ts --faults (HEADERS_TIMEOUT_MS=2000, BODY_TIMEOUT_MS=10000, KEEP_ALIVE_TIMEOUT_MS=2000)',
  );
  own = await spawnServer(
    {
      LOG_LEVEL: 'warn',
      HEADERS_TIMEOUT_MS: '2000',
      BODY_TIMEOUT_MS: '10000',
      KEEP_ALIVE_TIMEOUT_MS: '2000',
      WATCHDOG_MS: '2000',
      SHUTDOWN_GRACE_MS: '20000',
    },
    60_000,
    testServe('--faults'),
  );
  base = own.base;
  stuckAfterMs = Number(flag('--stuck-after-ms') ?? 14_000);
}
const url = new URL(base);
const port = Number(url.port || 80);
const host = url.hostname;
const auth: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};

interface Answer {
  status: number;
  ms: number;
  body: string;
  error?: string;
}
function post(path: string, body: string, agent: http.Agent | false): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request(
      { host, port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', ...auth } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0, body: text }));
        res.on('error', (e) => resolve({ status: 0, ms: performance.now() - t0, body: '', error: e.message }));
      },
    );
    req.on('error', (e: Error & { code?: string }) =>
      resolve({ status: 0, ms: performance.now() - t0, body: '', error: e.code ?? e.message }),
    );
    req.end(body);
  });
}

const query = '대한민국의 수도와 가장 큰 도시는 어디인가?';
const sentence = '한국의 여러 도시와 음식, 역사에 관한 긴 문단이다. ';
const lightBody = (i: number) =>
  JSON.stringify({
    query,
    passages: [`${i}: 김치는 발효 음식이다.`, `${i}: 서울은 대한민국의 수도이다.`, `${i}: 부산은 항구 도시이다.`],
  });
const heavyBody = JSON.stringify({
  query,
  passages: Array.from({ length: 1000 }, (_, i) => `${i}: ${sentence.repeat(30)}`),
});
// Accepted just before SIGTERM in the drain check: long passages, but few enough to finish within SHUTDOWN_GRACE_MS
// (20 s here) on a 2-core CPU with the embedded model (about 22 such pairs/s), so a 503 or exit 1 is the drain's fault.
const drainBody = JSON.stringify({
  query,
  passages: Array.from({ length: 100 }, (_, i) => `${i}: ${sentence.repeat(30)}`),
});
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const report: Record<string, { pass: boolean | null; [k: string]: unknown }> = {};

async function slowClients() {
  log('slow clients');
  const head = `POST /rerank HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n${Object.entries(auth)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}`;
  const sockets: { kind: string; closed: boolean }[] = [];
  const open = (kind: string, script: (s: net.Socket) => void) => {
    const entry = { kind, closed: false };
    sockets.push(entry);
    const s = net.connect(port, host);
    s.on('error', () => {});
    s.resume(); // read what the server sends (a paused socket never sees the server's close)
    s.on('close', () => (entry.closed = true));
    s.on('connect', () => script(s));
    return s;
  };
  const all: net.Socket[] = [];
  const drip = (s: net.Socket) => {
    const timer = setInterval(() => (s.writable ? s.write('a') : clearInterval(timer)), 200);
    s.once('close', () => clearInterval(timer));
  };
  for (let i = 0; i < 20; i++)
    all.push(open('trickled body', (s) => (s.write(`${head}Content-Length: 1000\r\n\r\n`), drip(s))));
  for (let i = 0; i < 10; i++)
    all.push(
      open('unfinished chunked body', (s) => s.write(`${head}Transfer-Encoding: chunked\r\n\r\n5\r\n{"que\r\n`)),
    );
  for (let i = 0; i < 10; i++) all.push(open('silent', () => {}));
  for (let i = 0; i < 50; i++)
    all.push(open('idle keep-alive', (s) => s.write(`GET /health HTTP/1.1\r\nHost: ${host}\r\n\r\n`)));
  await sleep(stuckAfterMs);
  const stuck = sockets.filter((s) => !s.closed);
  for (const s of all) s.destroy();
  const byKind: Record<string, number> = {};
  for (const s of stuck) byKind[s.kind] = (byKind[s.kind] ?? 0) + 1;
  report.slowClients = {
    pass: stuck.length === 0,
    opened: sockets.length,
    stuckAfterMs,
    stuck: stuck.length,
    stuckByKind: byKind,
  };
}

async function lightP99(ms: number, heavy: boolean) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let stop = false;
  const heavyLoop = heavy
    ? (async () => {
        while (!stop) await post('/rerank', heavyBody, agent);
      })()
    : Promise.resolve();
  if (heavy) await sleep(300);
  // Every light request counts: one that fails (or waits out its deadline) is not left out of the percentiles.
  const lat: number[] = [];
  let wrong = 0;
  let failed = 0;
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: 8 }, async (_, c) => {
      for (let i = 0; performance.now() < end; i++) {
        const r = await post('/rerank', lightBody(c * 10_000 + i), agent);
        lat.push(r.ms);
        if (r.status !== 200) failed++;
        else if (JSON.parse(r.body).results[0].index !== 1) wrong++;
      }
    }),
  );
  stop = true;
  await heavyLoop;
  agent.destroy();
  return { n: lat.length, p50: Math.round(pct(lat, 50)), p99: Math.round(pct(lat, 99)), wrong, failed };
}

async function heavyNeighbour() {
  log('heavy neighbour');
  const alone = await lightP99(5000, false);
  const beside = await lightP99(8000, true);
  const ratio = Math.round((beside.p99 / alone.p99) * 100) / 100;
  report.heavyNeighbour = {
    pass: ratio <= 3 && beside.wrong === 0 && beside.failed === 0,
    lightAlone: alone,
    lightBesideHeavy: beside,
    p99Ratio: ratio,
  };
}

async function largeBodies() {
  log('large bodies');
  const big = JSON.stringify({ query, passages: Array.from({ length: 1000 }, (_, i) => `${i}: ${'가'.repeat(1000)}`) });
  const answers = await Promise.all(Array.from({ length: 64 }, () => post('/rerank', big, false)));
  const statuses: Record<string, number> = {};
  for (const a of answers) statuses[a.error ?? String(a.status)] = (statuses[a.error ?? String(a.status)] ?? 0) + 1;
  const unanswered = answers.filter((a) => a.status === 0).length;
  report.largeBodies = {
    pass: unanswered === 0 && answers.every((a) => [200, 408, 413, 429, 503].includes(a.status)),
    bodyBytes: Buffer.byteLength(big),
    statuses,
  };
}

async function workerDeath() {
  log('worker death');
  const agent = new http.Agent({ keepAlive: true });
  const baseline = await post('/rerank', lightBody(1), agent);
  const out: Record<string, unknown> = {};
  let pass = true;
  for (const kind of ['exit', 'hang'] as const) {
    const f = await post('/debug/fault', JSON.stringify({ kind }), agent);
    if (f.status === 404) {
      report.workerDeath = {
        pass: null,
        skipped: 'the server has no POST /debug/fault (only test/helpers/serve.ts --faults adds it)',
      };
      return;
    }
    const t0 = performance.now();
    let recoveredMs: number | undefined;
    const failed: number[] = [];
    while (performance.now() - t0 < 60_000) {
      const r = await post('/rerank', lightBody(1), agent);
      if (r.status === 200 && JSON.parse(r.body).results[0].index === JSON.parse(baseline.body).results[0].index) {
        recoveredMs = Math.round(performance.now() - t0);
        break;
      }
      failed.push(r.status);
      await sleep(50);
    }
    out[kind] = { recoveredMs, failedMeanwhile: failed.length, statuses: [...new Set(failed)] };
    if (recoveredMs === undefined) pass = false;
  }
  const metrics = await fetch(`${base}/metrics`, { headers: auth }).then((r) => r.text());
  out.restarts = metrics.split('\n').filter((l) => l.startsWith('ko_rerank_worker_restarts_total{'));
  agent.destroy();
  report.workerDeath = { pass, ...out };
}

async function drain() {
  if (!own) {
    report.drain = { pass: null, skipped: 'needs the runner to start the server itself (no --url)' };
    return;
  }
  log('drain');
  const outcomes: string[] = [];
  let stop = false;
  const pending: Promise<void>[] = [];
  const steady = (async () => {
    while (!stop) {
      pending.push(
        post('/rerank', lightBody(7), false).then((r) => {
          const type = r.status === 503 ? JSON.parse(r.body || '{}').error?.type : undefined;
          if (r.status === 0) outcomes.push(r.error === 'ECONNREFUSED' ? 'refused' : `lost: ${r.error}`);
          else if (r.status === 503 && type !== 'shutting_down') outcomes.push(`lost: 503 ${r.body.slice(0, 80)}`);
          else {
            outcomes.push(String(r.status));
            if (r.status === 503 && !stop) setTimeout(() => (stop = true), 2500);
          }
        }),
      );
      await sleep(8);
    }
  })();
  await sleep(1000);
  const bigs = [post('/rerank', drainBody, false)];
  await sleep(200);
  own.child.kill('SIGTERM');
  const exit = await own.exit;
  await steady;
  await Promise.all(pending);
  const big = await Promise.all(bigs);
  const lost = outcomes.filter((o) => o.startsWith('lost'));
  const count = (s: string) => outcomes.filter((o) => o === s).length;
  report.drain = {
    pass: lost.length === 0 && exit.code === 0 && big[0]!.status === 200,
    requests: outcomes.length,
    ok: count('200'),
    shuttingDown: count('503'),
    refused: count('refused'),
    lost: lost.length,
    lostDetail: lost.slice(0, 5),
    heavyAcceptedBeforeSignal: big[0]!.status,
    exitCode: exit.code,
  };
  own = undefined;
}

try {
  await slowClients();
  await heavyNeighbour();
  await largeBodies();
  await workerDeath();
  await drain();
} finally {
  own?.kill();
}
console.log(JSON.stringify(report, null, 2));
const failed = Object.entries(report)
  .filter(([, r]) => r.pass === false)
  .map(([k]) => k);
log(failed.length === 0 ? 'every check that ran passed' : `FAILED: ${failed.join(', ')}`);
process.exit(failed.length === 0 ? 0 : 1);
