// Soak test (`npm run bench -- soak`, not in CI): starts the real server (bin/ko-rerank.mjs serve, embedded model
// unless MODEL_DIR says otherwise) and drives mixed load at it for --seconds (default 600): every inference route,
// small and large requests, chunking, malformed bodies, clients that disconnect, short deadlines, and bursts past
// MAX_QUEUE_PAIRS. It reports the server's RSS after the warm-up and at the end (growth must stay under 10%), every
// status seen, and any error that should not happen (a 5xx other than 503 timeout, a wrong ranking, a dead socket).
// Exit code 0 when both hold, 1 otherwise.
//
//   npm run bench -- soak --seconds 600 [--concurrency 6] [--warmup-seconds 60] [--max-growth 0.10]
//     [--max-queue-pairs 1024]
//
// The start figure is taken after the warm-up: onnxruntime's arena and V8's heap grow to the workload's shapes first.
import { spawn } from 'node:child_process';
import { freePort, prng } from '../test/helpers/loopback.ts';

interface Options {
  seconds: number;
  warmupSeconds: number;
  concurrency: number;
  maxGrowth: number;
  maxQueuePairs: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { seconds: 600, warmupSeconds: 60, concurrency: 6, maxGrowth: 0.1, maxQueuePairs: 1024 };
  const names: Record<string, keyof Options> = {
    '--seconds': 'seconds',
    '--warmup-seconds': 'warmupSeconds',
    '--concurrency': 'concurrency',
    '--max-growth': 'maxGrowth',
    '--max-queue-pairs': 'maxQueuePairs',
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const key = names[flag];
    const value = Number(inline ?? argv[++i]);
    if (!key || !Number.isFinite(value) || value < 0) {
      console.error(`soak: bad argument ${argv[i]} (flags: ${Object.keys(names).join(' ')})`);
      process.exit(2);
    }
    opts[key] = value;
  }
  return opts;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const QUERY = '대한민국의 수도는 어디인가?';
const RIGHT = '서울은 대한민국의 수도이며 가장 큰 도시이다.';
const FILLER = [
  '김치는 배추와 고춧가루로 만드는 한국의 전통 발효 음식이다.',
  '부산은 한국 남동쪽의 항구 도시로 해운대 해수욕장이 유명하다.',
  '한글은 세종대왕이 백성을 위해 만든 글자이다.',
  '제주도는 화산섬으로 한라산이 있다.',
  '경주는 신라의 수도였고 불국사와 석굴암이 있다.',
];

/** Passages with the right answer at a random place; returns the place. */
function passages(r: ReturnType<typeof prng>, n: number, long = false): { list: string[]; right: number } {
  const right = r.int(n);
  const list = Array.from({ length: n }, (_, i) =>
    i === right ? RIGHT : `${i}: ${r.pick(FILLER)}${long ? ' ' + r.pick(FILLER).repeat(20) : ''}`,
  );
  return { list, right };
}

interface Outcome {
  statuses: Map<string, number>;
  errors: string[];
  requests: number;
}

function record(o: Outcome, key: string): void {
  o.statuses.set(key, (o.statuses.get(key) ?? 0) + 1);
}

async function rssOf(base: string): Promise<number> {
  const text = await (await fetch(base + '/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith('ko_rerank_process_resident_memory_bytes '));
  if (!line) throw new Error('no ko_rerank_process_resident_memory_bytes in /metrics');
  return Number(line.split(' ')[1]);
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

/** One request of the mix; checks what it can about the answer. */
async function one(base: string, r: ReturnType<typeof prng>, o: Outcome): Promise<void> {
  const kind = r.int(100);
  const post = (path: string, body: unknown, signal?: AbortSignal, raw?: string) =>
    fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: raw ?? JSON.stringify(body),
      signal,
    });
  o.requests++;
  try {
    if (kind < 35) {
      const { list, right } = passages(r, 1 + r.int(40));
      const res = await post('/rerank', { query: QUERY, passages: list, top_n: 3 });
      const body = (await res.json()) as any;
      record(o, `rerank ${res.status}`);
      if (res.status === 200 && body.results[0].index !== right)
        o.errors.push(`/rerank ranked ${body.results[0].index} first, expected ${right}`);
      else if (res.status !== 200 && res.status !== 429)
        o.errors.push(`/rerank ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
    } else if (kind < 45) {
      const { list } = passages(r, 1 + r.int(20));
      const res = await post('/score', { pairs: list.map((p) => [QUERY, p]), normalize: 'sigmoid' });
      record(o, `score ${res.status}`);
      await res.arrayBuffer();
      if (res.status !== 200 && res.status !== 429) o.errors.push(`/score ${res.status}`);
    } else if (kind < 55) {
      const { list, right } = passages(r, 1 + r.int(30));
      const path = r.pick(['/v1/rerank', '/v2/rerank']);
      const res = await post(path, { model: 'ko-rerank', query: QUERY, documents: list, top_n: 1 });
      const body = (await res.json()) as any;
      record(o, `cohere ${res.status}`);
      if (res.status === 200 && body.results[0].index !== right)
        o.errors.push(`${path} ranked ${body.results[0].index} first`);
      else if (res.status !== 200 && res.status !== 429) o.errors.push(`${path} ${res.status}`);
    } else if (kind < 62) {
      const { list } = passages(r, 1 + r.int(10));
      const res = await post('/invocations', { inputs: list.map((p) => ({ text: QUERY, text_pair: p })) });
      record(o, `invocations ${res.status}`);
      await res.arrayBuffer();
      if (res.status !== 200 && res.status !== 429) o.errors.push(`/invocations ${res.status}`);
    } else if (kind < 70) {
      // long passages, chunked
      const { list, right } = passages(r, 2 + r.int(6), true);
      const res = await post('/rerank', { query: QUERY, passages: list, chunking: { max_chunks_per_doc: 4 } });
      const body = (await res.json()) as any;
      record(o, `chunked ${res.status}`);
      if (res.status === 200 && body.results[0].index !== right)
        o.errors.push(`chunked /rerank ranked ${body.results[0].index} first`);
      else if (res.status !== 200 && res.status !== 429) o.errors.push(`chunked ${res.status}`);
    } else if (kind < 80) {
      // malformed: must be a 4xx
      const raw = r.pick([
        '{"query":',
        '[[[[[[[[[[',
        '{"query":"q","passages":[1,2]}',
        '{"query":"\\ud800","passages":["a"]}',
        '"x"',
        '{}',
      ]);
      const res = await post(r.pick(['/rerank', '/score', '/v2/rerank', '/invocations']), undefined, undefined, raw);
      record(o, `malformed ${res.status}`);
      await res.arrayBuffer();
      if (res.status < 400 || res.status >= 500) o.errors.push(`malformed body answered ${res.status}`);
    } else if (kind < 88) {
      // a client that goes away
      const ac = new AbortController();
      const { list } = passages(r, 20 + r.int(60));
      const p = post('/rerank', { query: QUERY, passages: list }, ac.signal).then((res) => res.arrayBuffer());
      await sleep(r.int(30));
      ac.abort();
      await p.catch(() => {});
      record(o, 'disconnect');
    } else if (kind < 98) {
      // a short deadline: 200 or 503 timeout
      const { list } = passages(r, 50 + r.int(150));
      const res = await post('/rerank', { query: QUERY, passages: list, timeout_ms: 1 + r.int(200) });
      const body = (await res.json()) as any;
      record(o, `deadline ${res.status}`);
      if (!(res.status === 200 || res.status === 429 || (res.status === 503 && body.error.type === 'timeout')))
        o.errors.push(`deadline ${res.status}`);
    } else {
      // a burst past MAX_QUEUE_PAIRS: 200 or 429 with Retry-After
      const burst = await Promise.all(
        Array.from({ length: 6 }, async () => {
          const res = await post('/rerank', { query: QUERY, passages: passages(r, 250).list, top_n: 1 });
          await res.arrayBuffer();
          if (res.status === 429 && !res.headers.get('retry-after')) o.errors.push('429 without Retry-After');
          return res.status;
        }),
      );
      for (const s of burst) record(o, `burst ${s}`);
      if (burst.some((s) => s !== 200 && s !== 429)) o.errors.push(`burst statuses ${burst.join(',')}`);
    }
  } catch (err) {
    o.errors.push(`request failed: ${(err as Error).message} ${(err as { cause?: Error }).cause?.message ?? ''}`);
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const port = await freePort();
  const server = spawn(process.execPath, ['bin/ko-rerank.mjs', 'serve'], {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      DEVICE: process.env.DEVICE ?? 'cpu',
      MAX_QUEUE_PAIRS: String(opts.maxQueuePairs),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<number | null>((r) => server.once('exit', (c) => r(c)));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (
      (await fetch(base + '/ready').then(
        (r) => r.status,
        () => 0,
      )) === 200
    )
      break;
    if (i > 480) throw new Error('server did not get ready in 2 minutes');
    await sleep(250);
  }
  const t0 = performance.now();
  const rssReady = await rssOf(base);
  console.log(
    `soak: server pid ${server.pid} ready, RSS ${mb(rssReady)}; ${opts.seconds} s of mixed load, ${opts.concurrency} clients (warm-up ${opts.warmupSeconds} s)`,
  );
  const o: Outcome = { statuses: new Map(), errors: [], requests: 0 };
  const end = t0 + (opts.warmupSeconds + opts.seconds) * 1000;
  let rssStart = 0;
  let rssMax = 0;
  const sampler = (async () => {
    await sleep(opts.warmupSeconds * 1000);
    rssStart = await rssOf(base);
    console.log(`soak: after warm-up RSS ${mb(rssStart)} (this is the start figure)`);
    while (performance.now() < end) {
      await sleep(Math.min(30_000, Math.max(0, end - performance.now())));
      const rss = await rssOf(base);
      rssMax = Math.max(rssMax, rss);
      const s = Math.round((performance.now() - t0) / 1000);
      console.log(
        `soak: t=${s}s requests=${o.requests} errors=${o.errors.length} RSS ${mb(rss)} (${(((rss - rssStart) / rssStart) * 100).toFixed(1)}%)`,
      );
    }
  })();
  await Promise.all(
    Array.from({ length: opts.concurrency }, async (_, c) => {
      const r = prng(1000 + c);
      while (performance.now() < end) await one(base, r, o);
    }),
  );
  await sampler;
  // Let the last disconnected / timed-out work leave the queue before the last reading.
  await sleep(2000);
  const rssEnd = await rssOf(base);
  const alive =
    (await fetch(base + '/health').then(
      (r) => r.status,
      () => 0,
    )) === 200;
  server.kill('SIGTERM');
  const code = await exited;
  const growth = (rssEnd - rssStart) / rssStart;
  const statuses = [...o.statuses.entries()].sort().map(([k, v]) => `${k}: ${v}`);
  console.log(
    `soak: ${o.requests} requests in ${opts.seconds} s (+${opts.warmupSeconds} s warm-up): ${statuses.join(', ')}`,
  );
  console.log(
    `soak: RSS ready ${mb(rssReady)}, start ${mb(rssStart)}, end ${mb(rssEnd)}, max ${mb(rssMax)}: growth ${(growth * 100).toFixed(1)}% (limit ${opts.maxGrowth * 100}%)`,
  );
  console.log(`soak: server alive at the end: ${alive}; exit code after SIGTERM: ${code}`);
  const unique = [...new Set(o.errors)];
  console.log(`soak: ${o.errors.length} errors${unique.length ? `:\n  ${unique.slice(0, 20).join('\n  ')}` : ''}`);
  const ok = growth < opts.maxGrowth && o.errors.length === 0 && alive && code === 0;
  console.log(`soak: ${ok ? 'PASS' : 'FAIL'}`);
  process.exit(ok ? 0 : 1);
}

await main();
