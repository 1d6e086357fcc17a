// `npm run bench -- flood`: 128 concurrent ~3.4 MB /rerank bodies against `ko-rerank serve` (a child process), with
// the default MAX_INFLIGHT_BODY_BYTES (64 MiB) and with it at 1 GiB (every body admitted, as with no budget), one
// after the other in one run. Reports the statuses, when the last 429 and the last answer came, and the server's RSS:
// before, peak (sampled every 100 ms from /metrics) and 5 s after the burst. Writes bench/results/<date>-flood.json.
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { spawnServer } from '../test/helpers/process.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const body = Buffer.from(
  JSON.stringify({
    query: '대한민국의 수도는?',
    passages: Array.from({ length: 1000 }, (_, i) => `${i}: ${'김치는 한국의 전통 발효 음식이다. '.repeat(70)}`),
  }),
);
const rss = async (base: string) => {
  const text = await fetch(base + '/metrics').then(
    (r) => r.text(),
    () => '',
  );
  const line = text.split('\n').find((l) => l.startsWith('ko_rerank_process_resident_memory_bytes '));
  return line ? Number(line.split(' ')[1]) / 2 ** 20 : NaN;
};

function post(port: number, t0: number): Promise<{ status: number; ms: number; error?: string }> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/rerank',
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      },
    );
    req.on('error', (e: Error & { code?: string }) =>
      resolve({ status: 0, ms: performance.now() - t0, error: e.code ?? e.message }),
    );
    req.end(body);
  });
}

const results: Record<string, unknown> = {};
for (const [name, budget] of [
  ['default 64 MiB budget', String(64 * 2 ** 20)],
  ['1 GiB budget (every body admitted)', String(2 ** 30)],
] as const) {
  const p = await spawnServer({ LOG_LEVEL: 'warn', MAX_INFLIGHT_BODY_BYTES: budget });
  const before = await rss(p.base);
  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await rss(p.base));
      await sleep(100);
    }
  })();
  const t0 = performance.now();
  const answers = await Promise.all(Array.from({ length: 128 }, () => post(p.port, t0)));
  sampling = false;
  await sampler;
  await sleep(5000);
  const after = await rss(p.base);
  const statuses: Record<string, number> = {};
  for (const a of answers) statuses[a.error ?? String(a.status)] = (statuses[a.error ?? String(a.status)] ?? 0) + 1;
  const last429 = Math.max(0, ...answers.filter((a) => a.status === 429).map((a) => a.ms));
  results[name] = {
    statuses,
    last429Ms: Math.round(last429),
    lastAnswerMs: Math.round(Math.max(...answers.map((a) => a.ms))),
    rssMiB: { before: Math.round(before), peak: Math.round(peak), after5s: Math.round(after) },
  };
  process.stderr.write(`${name}: ${JSON.stringify(results[name])}\n`);
  p.kill();
  await p.exit;
}
const out = `bench/results/${new Date().toISOString().slice(0, 10)}-flood.json`;
writeFileSync(
  out,
  JSON.stringify({ date: new Date().toISOString(), bodyBytes: body.length, concurrent: 128, results }, null, 2) + '\n',
);
console.log(out);
