// `npm run bench -- fairness [--quick]`: one heavy request beside light ones, and 3x overload, with the fair batcher,
// the micro-batch time bound and wait-based admission (the defaults) against batching without them
// (the length-order batcher of test/helpers/serve.ts --length-order-batching, ADMIT_BY_WAIT=false MAX_BATCH_MS=0),
// alternately in one run on the same machine. Each mode runs `ko-rerank serve` as a child process; the load comes
// from this process over keep-alive HTTP.
//   light alone:   8 clients in closed loops of 3-passage requests, nothing else: the unloaded light latency;
//   heavy + light: the same 8 clients while a 9th sends 1,000-passage requests of long passages back to back;
//   overload:      20-passage requests arriving open-loop at 3x the rate the server sustains (measured first in the
//                  same mode), REQUEST_TIMEOUT_MS=2000: accepted p99 and the share answered 429.
// Writes bench/results/<date>-fairness[-quick].json.
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { spawnServer, testServe, type ServerProcess } from '../test/helpers/process.ts';

const quick = process.argv.includes('--quick');
const PHASE_MS = quick ? 4000 : 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`[fairness ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

const query = '대한민국의 수도와 가장 큰 도시는 어디인가?';
const sentence = '한국의 여러 도시와 음식, 역사에 관한 긴 문단이다. ';
const light = (i: number) =>
  JSON.stringify({
    query,
    passages: [`${i}: 서울은 대한민국의 수도이다.`, `${i}: 김치는 발효 음식이다.`, `${i}: 부산은 항구 도시이다.`],
  });
const heavy = JSON.stringify({
  query,
  passages: Array.from({ length: 1000 }, (_, i) => `${i}: ${sentence.repeat(30)}`),
});
const medium = (i: number) =>
  JSON.stringify({ query, passages: Array.from({ length: 20 }, (_, k) => `${i}-${k}: ${sentence.repeat(3)}`) });

function post(port: number, agent: http.Agent, body: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
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
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      },
    );
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    req.end(body);
  });
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const summary = (xs: number[]) => ({
  n: xs.length,
  p50: Math.round(pct(xs, 50)),
  p99: Math.round(pct(xs, 99)),
  max: Math.round(Math.max(...xs)),
});

async function lightClients(port: number, ms: number, withHeavy: boolean) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  // Every light request counts, whatever its status: a 503 after waiting out its deadline is time the client waited.
  const lat: number[] = [];
  const lightStatuses: Record<string, number> = {};
  const heavyLat: number[] = [];
  const heavyStatuses: Record<string, number> = {};
  let stop = false;
  const heavyLoop = withHeavy
    ? (async () => {
        while (!stop) {
          const r = await post(port, agent, heavy);
          heavyStatuses[r.status] = (heavyStatuses[r.status] ?? 0) + 1;
          if (r.status === 200) heavyLat.push(r.ms);
        }
      })()
    : Promise.resolve();
  if (withHeavy) await sleep(300); // the heavy request is queued first
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: 8 }, async (_, c) => {
      for (let i = 0; performance.now() < end; i++) {
        const r = await post(port, agent, light(c * 10_000 + i));
        lat.push(r.ms);
        lightStatuses[r.status] = (lightStatuses[r.status] ?? 0) + 1;
      }
    }),
  );
  stop = true;
  await heavyLoop;
  agent.destroy();
  return {
    light: { ...summary(lat), statuses: lightStatuses },
    heavy: withHeavy ? { ...summary(heavyLat), statuses: heavyStatuses } : undefined,
  };
}

async function overload(port: number, ms: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  // Saturated rate: 4 closed-loop clients (80 pairs always queued keep the worker busy), counted after a 2 s warm-up.
  // Not more: closed-loop clients that ignore Retry-After turn every 429 into an instant retry, and with 16 of them
  // the refusals (thousands a second, each body read and parsed) took the CPU the accepted requests needed.
  let done = 0;
  const countFrom = performance.now() + 2000;
  const satEnd = countFrom + ms / 2;
  await Promise.all(
    Array.from({ length: 4 }, async (_, c) => {
      for (let i = 0; performance.now() < satEnd; i++) {
        const r = await post(port, agent, medium(c * 1000 + i));
        if (r.status === 200 && performance.now() >= countFrom) done++;
      }
    }),
  );
  const rate = done / (ms / 2 / 1000);
  const arrivals = 3 * rate;
  const accepted: number[] = [];
  const statuses = new Map<number, number>();
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; performance.now() - t0 < ms; i++) {
    const due = t0 + (i * 1000) / arrivals;
    if (due > performance.now()) await sleep(due - performance.now());
    pending.push(
      post(port, agent, medium(900_000 + i)).then((r) => {
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 200) accepted.push(r.ms);
      }),
    );
  }
  await Promise.all(pending);
  agent.destroy();
  return {
    saturatedPerS: Math.round(rate * 10) / 10,
    arrivalsPerS: Math.round(arrivals * 10) / 10,
    accepted: summary(accepted),
    statuses: Object.fromEntries(statuses),
  };
}

// The length-order batcher is not a setting: only the test server entry (test/helpers/serve.ts) builds it.
const MODES = {
  fair: { env: { ADMIT_BY_WAIT: 'true' }, args: undefined },
  previous: { env: { ADMIT_BY_WAIT: 'false', MAX_BATCH_MS: '0' }, args: testServe('--length-order-batching') },
};

async function withServer<T>(
  { env, args }: { env: Record<string, string>; args?: string[] },
  f: (p: ServerProcess) => Promise<T>,
): Promise<T> {
  const p = await spawnServer({ LOG_LEVEL: 'warn', ...env }, 60_000, args);
  try {
    return await f(p);
  } finally {
    p.child.kill('SIGKILL');
    await p.exit;
  }
}

const results: Record<string, unknown> = {};
for (const [name, mode] of Object.entries(MODES)) {
  log(`${name}: light alone, heavy + light`);
  const alone = await withServer(mode, (p) => lightClients(p.port, PHASE_MS, false));
  const beside = await withServer(mode, (p) => lightClients(p.port, PHASE_MS, true));
  log(`${name}: 3x overload`);
  const over = await withServer({ ...mode, env: { ...mode.env, REQUEST_TIMEOUT_MS: '2000' } }, (p) =>
    overload(p.port, PHASE_MS),
  );
  results[name] = {
    lightAlone: alone.light,
    lightBesideHeavy: beside.light,
    heavy: beside.heavy,
    overload: over,
    lightP99Ratio: Math.round((beside.light.p99 / alone.light.p99) * 100) / 100,
  };
  log(JSON.stringify(results[name]));
}
const out = `bench/results/${new Date().toISOString().slice(0, 10)}-fairness${quick ? '-quick' : ''}.json`;
writeFileSync(
  out,
  JSON.stringify({ date: new Date().toISOString(), quick, phaseMs: PHASE_MS, results }, null, 2) + '\n',
);
console.log(JSON.stringify(results, null, 2));
log(`wrote ${out}`);
