// `npm run bench -- memory`: what memory a burst leaves behind, where it lives, and what the idle reclaim gives back
// after it. In one run:
//   1. the flood of the flood suite (128 concurrent 3.4 MB /rerank bodies, default MAX_INFLIGHT_BODY_BYTES) against
//      `ko-rerank serve` with MEMORY_RECLAIM_IDLE_MS=0 (no reclaim) and with the default, one after the
//      other. Per server: RSS before, at its peak (sampled every 100 ms from /proc) and 2, 5 and 10 s after the last
//      answer; V8's main-thread heap from /metrics. For the server without the reclaim, where gdb is installed, the
//      breakdown 10 s after: glibc's malloc_stats() per arena (bytes held vs in use) and the RSS after a
//      malloc_trim(0) called from gdb.
//   2. onnxruntime's CPU arena: bare sessions (src/backend/session-options.ts, as the worker's) in child processes,
//      with the arena (the default) and without (enableCpuMemArena: false), alternating, 3 rounds: RSS after the
//      warm-up, after 4 x 512 and 16 x 128 token micro-batches (the CPU budget of 2,048 tokens), after malloc_trim,
//      and the ms per micro-batch.
// Writes bench/results/<date>-memory.json. Linux only (/proc, glibc).
import http from 'node:http';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spawnServer, type ServerProcess } from '../test/helpers/process.ts';

const MiB = 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMiB = (pid: number | 'self') =>
  Math.round(Number(/^Rss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]) / 1024);

// ---- child mode: one bare onnxruntime session, arena on or off ----------------------------------------------------
if (process.argv[2] === '--ort-arena') {
  const arena = process.argv[3] === 'on';
  const ort = await import('onnxruntime-node');
  const { sessionOptions } = await import('../src/backend/session-options.ts');
  const { loadMallocTrim } = await import('../src/core/memory-reclaim.ts');
  const { loadConfig } = await import('../src/config.ts');
  const { readModelDir } = await import('../src/backend/model-dir.ts');
  const config = loadConfig([], { DEVICE: 'cpu' });
  const model = readModelDir(config.modelDir, config.modelFile);
  const opts = {
    ...sessionOptions('cpu', {
      intraOpThreads: config.intraOpThreads,
      spinning: config.intraOpSpinning,
      cudaDeviceId: 0,
    }),
    enableCpuMemArena: arena,
  };
  const session = await ort.InferenceSession.create(model.onnxPath, opts);
  const feeds = (rows: number, len: number) => {
    const f: Record<string, InstanceType<typeof ort.Tensor>> = {};
    for (const name of session.inputNames) {
      const data = new BigInt64Array(rows * len).fill(name === 'input_ids' ? 5n : name === 'attention_mask' ? 1n : 0n);
      f[name] = new ort.Tensor('int64', data, [rows, len]);
    }
    return f;
  };
  const timed = async (rows: number, len: number, n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await session.run(feeds(rows, len));
    return Math.round(((performance.now() - t0) / n) * 10) / 10;
  };
  await session.run(feeds(2, 16));
  const afterWarmup = rssMiB('self');
  const ms4x512 = await timed(4, 512, 12);
  const after4x512 = rssMiB('self');
  const ms16x128 = await timed(16, 128, 40);
  const after16x128 = rssMiB('self');
  const loaded = loadMallocTrim();
  if ('trim' in loaded) await loaded.trim();
  console.log(
    JSON.stringify({
      arena,
      rssMiB: { afterWarmup, after4x512, after16x128, afterMallocTrim: rssMiB('self') },
      msPerBatch: { '4x512': ms4x512, '16x128': ms16x128 },
    }),
  );
  process.exit(0);
}

// ---- the flood ----------------------------------------------------------------------------------------------------
const body = Buffer.from(
  JSON.stringify({
    query: '대한민국의 수도는?',
    passages: Array.from({ length: 1000 }, (_, i) => `${i}: ${'김치는 한국의 전통 발효 음식이다. '.repeat(70)}`),
  }),
);

function post(port: number): Promise<number> {
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
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

async function v8Heap(p: ServerProcess) {
  const text = await fetch(p.base + '/metrics').then((r) => r.text());
  const g = (name: string) =>
    Number(
      text
        .split('\n')
        .find((l) => l.startsWith(`ko_rerank_${name} `))
        ?.split(' ')[1] ?? NaN,
    );
  return {
    heapTotalMiB: Math.round(g('nodejs_heap_size_total_bytes') / MiB),
    heapUsedMiB: Math.round(g('nodejs_heap_size_used_bytes') / MiB),
    externalMiB: Math.round(g('nodejs_external_memory_bytes') / MiB),
    reclaims: g('memory_reclaims_total'),
    reclaimedMiB: Math.round(g('memory_reclaimed_bytes_total') / MiB),
  };
}

const hasGdb = spawnSync('gdb', ['--version'], { stdio: 'ignore' }).status === 0;

/** glibc's own account, from gdb: malloc_stats() (printed on the server's stderr), then malloc_trim(0). */
async function mallocBreakdown(p: ServerProcess) {
  const pid = String(p.child.pid);
  const mark = p.log().length;
  execFileSync('gdb', ['-p', pid, '-batch', '-ex', 'call (void)malloc_stats()'], { stdio: 'ignore' });
  // The server's stderr reaches us through a pipe: give it a moment.
  await sleep(500);
  const stats = p.log().slice(mark);
  const arenas = [...stats.matchAll(/Arena (\d+):\s*system bytes\s*=\s*(\d+)\s*in use bytes\s*=\s*(\d+)/g)].map(
    (m) => ({
      arena: Number(m[1]),
      heldMiB: Math.round(Number(m[2]) / MiB),
      inUseMiB: Math.round(Number(m[3]) / MiB),
    }),
  );
  const total = /Total \(incl\. mmap\):\s*system bytes\s*=\s*(\d+)\s*in use bytes\s*=\s*(\d+)/.exec(stats);
  const before = rssMiB(p.child.pid!);
  execFileSync('gdb', ['-p', pid, '-batch', '-ex', 'call (int)malloc_trim(0)'], { stdio: 'ignore' });
  return {
    arenasHeldMiB: arenas.reduce((n, a) => n + a.heldMiB, 0),
    arenasInUseMiB: arenas.reduce((n, a) => n + a.inUseMiB, 0),
    totalInclMmap: total
      ? { heldMiB: Math.round(Number(total[1]) / MiB), inUseMiB: Math.round(Number(total[2]) / MiB) }
      : null,
    biggestArenas: arenas.sort((a, b) => b.heldMiB - a.heldMiB).slice(0, 4),
    rssBeforeTrimMiB: before,
    rssAfterGdbMallocTrimMiB: rssMiB(p.child.pid!),
  };
}

async function flood(name: string, env: Record<string, string>, breakdown: boolean) {
  const p = await spawnServer({ LOG_LEVEL: 'warn', ...env });
  const pid = p.child.pid!;
  await sleep(1000);
  const before = rssMiB(pid);
  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, rssMiB(pid));
      await sleep(100);
    }
  })();
  const t0 = performance.now();
  const answers = await Promise.all(Array.from({ length: 128 }, () => post(p.port)));
  const burstMs = Math.round(performance.now() - t0);
  sampling = false;
  await sampler;
  const statuses: Record<string, number> = {};
  for (const a of answers) statuses[a] = (statuses[a] ?? 0) + 1;
  const after: Record<string, number> = {};
  let waited = 0;
  for (const s of [2, 5, 10]) {
    await sleep((s - waited) * 1000);
    waited = s;
    after[`${s}s`] = rssMiB(pid);
  }
  // Then 5 ordinary 20-passage requests one after the other: what the first answers after a reclaim cost.
  const small = JSON.stringify({
    query: '대한민국의 수도는?',
    passages: Array.from({ length: 20 }, (_, i) => `${i}: ${'김치는 한국의 전통 발효 음식이다. '.repeat(8)}`),
  });
  const smallMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await fetch(p.base + '/rerank', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: small,
    }).then((r) => r.arrayBuffer());
    smallMs.push(Math.round(performance.now() - t));
  }
  const result: Record<string, unknown> = {
    env,
    statuses,
    burstMs,
    rssMiB: { before, peak, after },
    retainedMiB: after['10s']! - before,
    v8MainThread10sAfter: await v8Heap(p),
    next5SmallRequestsMs: smallMs,
  };
  const reclaimLog = p
    .log()
    .split('\n')
    .filter((l) => l.includes('memory reclaimed after idle'));
  if (reclaimLog.length > 0)
    result.reclaimLog = reclaimLog.map((l) => {
      const { rssBeforeMiB, rssAfterMiB, ms, gcMs } = JSON.parse(l);
      return { rssBeforeMiB, rssAfterMiB, ms, gcMs };
    });
  if (breakdown && hasGdb) result.glibcMalloc10sAfter = await mallocBreakdown(p);
  process.stderr.write(`${name}: ${JSON.stringify(result)}\n`);
  p.kill();
  await p.exit;
  return result;
}

const results: Record<string, unknown> = {};
results['MEMORY_RECLAIM_IDLE_MS=0 (no reclaim, as before)'] = await flood(
  'no reclaim',
  { MEMORY_RECLAIM_IDLE_MS: '0' },
  true,
);
results['default (MEMORY_RECLAIM_IDLE_MS=2000)'] = await flood('default', { LOG_LEVEL: 'info' }, false);

const self = fileURLToPath(import.meta.url);
type ArenaRun = { arena: boolean; rssMiB: Record<string, number>; msPerBatch: Record<string, number> };
const ortRounds: { round: number; on: ArenaRun; off: ArenaRun }[] = [];
const child = (mode: string): ArenaRun => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--ort-arena', mode], { encoding: 'utf8' });
  process.stderr.write(`ort arena ${mode}: ${out}`);
  return JSON.parse(out.trim().split('\n').pop()!) as ArenaRun;
};
for (const round of [1, 2, 3]) ortRounds.push({ round, on: child('on'), off: child('off') });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ortCpuArena = {
  rounds: ortRounds,
  // Within a round, arena off vs on (the default): slowdown per micro-batch shape, and what stays after malloc_trim.
  medianSlowdownWithoutArena: Object.fromEntries(
    ['4x512', '16x128'].map((k) => [
      k,
      Math.round(median(ortRounds.map((r) => r.off.msPerBatch[k]! / r.on.msPerBatch[k]!)) * 100) / 100,
    ]),
  ),
  medianHeldAfterTrimMiB: {
    arenaOn: median(ortRounds.map((r) => r.on.rssMiB.afterMallocTrim! - r.on.rssMiB.afterWarmup!)),
    arenaOff: median(ortRounds.map((r) => r.off.rssMiB.afterMallocTrim! - r.off.rssMiB.afterWarmup!)),
  },
};

const out = `bench/results/${new Date().toISOString().slice(0, 10)}-memory.json`;
writeFileSync(
  out,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: 'this shared 2-core machine, CPU, models/ko-reranker-small',
      bodyBytes: body.length,
      concurrent: 128,
      flood: results,
      ortCpuArena,
    },
    null,
    2,
  ) + '\n',
);
console.log(out);
