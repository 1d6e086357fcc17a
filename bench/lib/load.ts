// Load generator: a separate process (forked by bench/throughput.ts, commands over IPC) that drives a running ko-rerank
// over HTTP with keep-alive connections, and reads the server's own /metrics before and after each phase.
//   closed: `concurrency` clients, each sends its next request when the previous answer arrived;
//   open:   requests arrive at `rate` per second (Poisson), latency counted from the scheduled arrival time,
//           so a stalled server cannot hide its queueing (no coordinated omission).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { rng } from './workload.ts';

export interface Phase {
  name: string;
  /** JSON file with an array of request bodies. */
  bodiesFile: string;
  pairsPerRequest: number;
  mode: 'closed' | 'open';
  concurrency?: number;
  rate?: number;
  warmupMs: number;
  durationMs: number;
}

export interface PhaseResult {
  name: string;
  mode: 'closed' | 'open';
  concurrency?: number;
  rate?: number;
  seconds: number;
  /** Time the /metrics scrape that opens the measured window took (the window starts after it). */
  scrapeMs: number;
  requests: number;
  errors: number;
  /** Completed requests per second (client side). */
  requestsPerSec: number;
  /** Pairs the server ran per second (its micro-batch rows): with deep queues, requests of one closed-loop
   * generation finish together, so completed requests in a short window say little about throughput. */
  pairsPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Deltas of the server's /metrics over the measured window. */
  server: ServerWindow;
  /** This load generator's own CPU over the window: it shares the machine with the server. */
  clientCpuCores: number;
}

export interface ServerWindow {
  /** Pairs run in micro-batches during the window. */
  pairs: number;
  /** The server process's CPU seconds per wall second (2.0 = both cores). */
  cpuCores: number;
  /** Event-loop delay over the window (prom-client's monitorEventLoopDelay, reset at every scrape). */
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  batches: number;
  meanBatchRows: number;
  /** padded tokens / real tokens - 1 of every micro-batch run in the window. */
  paddingWaste: number;
  /** Share of the window the inference worker spent in session.run (sum of micro-batch times / wall time). */
  inferenceBusy: number;
  /** Share of the window the HTTP thread was busy (HTTP, JSON, batching; tokenization runs on libuv's pool). */
  eventLoopUtilisation: number;
  meanTokenizationMs: number;
}

const port = Number(process.env.BENCH_PORT);
const agentFor = (n: number) => new http.Agent({ keepAlive: true, maxSockets: n, maxFreeSockets: n });

function post(agent: http.Agent, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/rerank',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function get(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let s = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (s += c));
        res.on('end', () => resolve(s));
      })
      .on('error', reject);
  });
}

/** Unlabelled samples of the Prometheus text (name -> value). */
async function scrape(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await get('/metrics')).split('\n')) {
    if (line.startsWith('#') || line.includes('{')) continue;
    const [name, value] = line.split(' ');
    if (name && value !== undefined) out.set(name, Number(value));
  }
  return out;
}

function window(a: Map<string, number>, b: Map<string, number>, seconds: number): ServerWindow {
  const d = (k: string) => (b.get(`ko_rerank_${k}`) ?? 0) - (a.get(`ko_rerank_${k}`) ?? 0);
  const batches = d('batch_size_count');
  const real = d('batch_real_tokens_total');
  return {
    pairs: d('batch_size_sum'),
    cpuCores: d('process_cpu_seconds_total') / seconds,
    eventLoopP99Ms: (b.get('ko_rerank_nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000,
    eventLoopMaxMs: (b.get('ko_rerank_nodejs_eventloop_lag_max_seconds') ?? NaN) * 1000,
    batches,
    meanBatchRows: batches > 0 ? d('batch_size_sum') / batches : 0,
    paddingWaste: real > 0 ? d('batch_tokens_sum') / real - 1 : 0,
    inferenceBusy: d('inference_duration_ms_sum') / 1000 / seconds,
    eventLoopUtilisation: d('event_loop_active_seconds_total') / seconds,
    meanTokenizationMs:
      d('tokenization_duration_ms_count') > 0
        ? d('tokenization_duration_ms_sum') / d('tokenization_duration_ms_count')
        : 0,
  };
}

function percentiles(xs: number[]): PhaseResult['latencyMs'] {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => (s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]!);
  return {
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: s[s.length - 1] ?? NaN,
    mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length),
  };
}

const bodyCache = new Map<string, Buffer[]>();
function bodies(file: string): Buffer[] {
  let b = bodyCache.get(file);
  if (!b) bodyCache.set(file, (b = (JSON.parse(readFileSync(file, 'utf8')) as string[]).map((s) => Buffer.from(s))));
  return b;
}

async function runPhase(p: Phase): Promise<PhaseResult> {
  const list = bodies(p.bodiesFile);
  let next = 0;
  const latencies: number[] = [];
  let errors = 0;
  let measuring = false;
  let stop = false;
  let before = new Map<string, number>();
  let tStart = 0;

  const start = performance.now();
  const warmEnd = start + p.warmupMs;
  const end = warmEnd + p.durationMs;
  let scrapeMs = 0;
  let cpuStart = process.cpuUsage();
  let clientCpu = { user: 0, system: 0 };
  const beginWindow = async () => {
    const s0 = performance.now();
    before = await scrape();
    scrapeMs = performance.now() - s0;
    tStart = performance.now();
    cpuStart = process.cpuUsage();
    measuring = true;
  };
  // Scrape (which resets the event-loop histogram) at the start and at the end of the measured window, while the
  // clients keep the server busy.
  const windowStarted = new Promise<void>((resolve) => setTimeout(() => void beginWindow().then(resolve), p.warmupMs));
  let tEnd = 0;
  const windowEnded = new Promise<Map<string, number>>((resolve) =>
    setTimeout(() => {
      tEnd = performance.now();
      clientCpu = process.cpuUsage(cpuStart);
      void scrape().then(resolve);
    }, p.warmupMs + p.durationMs),
  );

  const record = (status: number, ms: number, doneAt: number) => {
    if (!measuring || doneAt > end) return;
    if (status === 200) latencies.push(ms);
    else errors++;
  };

  if (p.mode === 'closed') {
    const c = p.concurrency!;
    const agent = agentFor(c);
    // Closed loop: the requests still in flight at the end are cut off (the server drops their queued pairs).
    void windowEnded.then(() => {
      stop = true;
      agent.destroy();
    });
    await Promise.all(
      Array.from({ length: c }, async () => {
        while (!stop) {
          const body = list[next++ % list.length]!;
          const t0 = performance.now();
          const status = await post(agent, body).catch(() => 0);
          const t1 = performance.now();
          record(status, t1 - t0, t1);
          if (t1 >= end) stop = true;
        }
      }),
    );
    agent.destroy();
  } else {
    const agent = agentFor(1024);
    const rand = rng(7);
    const inflight: Promise<void>[] = [];
    let at = start;
    for (;;) {
      at += (-Math.log(1 - rand()) / p.rate!) * 1000;
      if (at >= end) break;
      const wait = at - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const scheduled = at;
      const body = list[next++ % list.length]!;
      inflight.push(
        post(agent, body)
          .catch(() => 0)
          .then((status) => {
            const t1 = performance.now();
            record(status, t1 - scheduled, t1);
          }),
      );
    }
    await Promise.all(inflight);
    agent.destroy();
  }
  await windowStarted;
  const after = await windowEnded;
  const seconds = (tEnd - tStart) / 1000;
  const requests = latencies.length;
  const server = window(before, after, seconds);
  return {
    name: p.name,
    mode: p.mode,
    concurrency: p.concurrency,
    rate: p.rate,
    seconds,
    scrapeMs,
    requests,
    errors,
    requestsPerSec: requests / seconds,
    pairsPerSec: server.pairs / seconds,
    latencyMs: percentiles(latencies),
    server,
    clientCpuCores: (clientCpu.user + clientCpu.system) / 1e6 / seconds,
  };
}

process.on('message', (msg: { phase?: Phase; exit?: boolean }) => {
  if (msg.exit) process.exit(0);
  if (msg.phase) {
    runPhase(msg.phase).then(
      (result) => process.send!({ result }),
      (err: Error) => process.send!({ error: err.message }),
    );
  }
});
process.send!({ ready: true });
