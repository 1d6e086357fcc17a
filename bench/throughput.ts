// `npm run bench -- throughput [--quick] [--out FILE]`: the whole performance picture in one sitting, one process tree.
//   1. padding waste of the batcher vs plain FIFO batching on the same request stream (simulated backend);
//   2. the service (`ko-rerank serve`, a child process) under load from a second child process (bench/lib/load.ts):
//      a concurrency sweep (1, 4, 16, 64) for each workload (bench/lib/workload.ts), with the server's own event-loop
//      delay, CPU and batch statistics read from its /metrics;
//   3. repeated, interleaved rounds of: the raw session.run limit over the same tokenized pairs (bench/lib/raw.ts) then
//      the saturated service on that workload, and the naive transformers.js baseline (bench/lib/naive.ts); ratios are
//      taken within a round and their medians reported, because the machine may be shared;
//   4. p99 latency of a 20-passage request at half the saturated rate (open loop) vs unloaded (one client);
//   5. thread settings (INTRA_OP_SPINNING on, WORKERS=2 x INTRA_OP_THREADS=1) against the defaults, alternately;
//   6. the int8 model: raw and service speed-up over fp32, and the ranking change (MRR@20 on the dev split).
// Writes bench/results/<date>-throughput[-quick].json and .svg (bench/lib/chart.ts). Settings (MAX_BATCH_TOKENS, ...)
// come from the environment as for `serve`.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { loadConfig, maxBatchTokensFor, type Config } from '../src/config.ts';
import { readModelDir } from '../src/backend/model-dir.ts';
import { loadTokenizer } from '../src/core/tokenizer.ts';
import { evaluate, type EvalOptions } from '../src/eval/command.ts';
import { EngineReranker } from '../src/eval/rerankers.ts';
import { buildWorkloads, lengthStats, WORKLOADS, type Workload, type WorkloadName } from './lib/workload.ts';
import { RawSession, type RawResult } from './lib/raw.ts';
import { naiveBaseline, type NaiveResult } from './lib/naive.ts';
import { paddingComparison } from './lib/padding.ts';
import type { Phase, PhaseResult } from './lib/load.ts';
import { renderChart } from './lib/chart.ts';
import { mdOneTail } from './lib/queueing.ts';
import { freePort } from '../test/helpers/loopback.ts';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const outIdx = argv.indexOf('--out');
const flag = (name: string) => (argv.indexOf(name) >= 0 ? argv[argv.indexOf(name) + 1] : undefined);
/** --skip int8,naive: leave parts out while iterating (the recorded results run everything). */
const skip = new Set((flag('--skip') ?? '').split(',').filter(Boolean));
const INT8_FILE = 'model_int8_weights.onnx';

const plan = quick
  ? {
      counts: { rag20: 96, rag50: 48, long: 24 },
      warmupMs: 500,
      sweepMs: 2000,
      rounds: 2,
      roundMs: 2500,
      rawSeconds: 1.5,
      naiveSeconds: 2,
      halfMs: 5000,
      evalLimit: 200 as number | undefined,
    }
  : {
      counts: { rag20: 256, rag50: 128, long: 64 },
      warmupMs: 1000,
      sweepMs: 4000,
      rounds: 3,
      roundMs: 4000,
      rawSeconds: 3,
      naiveSeconds: 4,
      halfMs: 10000,
      evalLimit: undefined,
    };
const CONCURRENCY = [1, 4, 16, 64];
const SATURATION = 64;

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const spread = (xs: readonly number[]) => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
  values: xs,
});
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const log = (s: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

const env: Record<string, string | undefined> = { ...process.env, DEVICE: process.env.DEVICE ?? 'cpu' };
const config: Config = loadConfig([], env);
const model = readModelDir(config.modelDir, config.modelFile);
// The budget the service will use on this CPU (the engine's rule); checked against the server's /info below.
const batchTokens = maxBatchTokensFor(config, 'cpu', model.maxLen);
const tokenizer = await loadTokenizer(model.dir);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ko-rerank-bench-'));
const loadAvgStart = os.loadavg();
const startedAt = new Date();

log(`building workloads (${quick ? 'quick' : 'full'} run)`);
const workloads = await buildWorkloads(
  { tokenizer, maxLen: model.maxLen, queryMaxShare: config.queryMaxShare },
  plan.counts,
);
const bodiesFile = (w: Workload) => {
  const f = path.join(tmp, `${w.name}.json`);
  writeFileSync(f, JSON.stringify(w.bodies));
  return f;
};
const files = Object.fromEntries(WORKLOADS.map((n) => [n, bodiesFile(workloads[n])])) as Record<WorkloadName, string>;

// 1. Padding waste, simulated on the same streams.
log('padding waste: batcher vs FIFO');
const padding: Record<
  string,
  { batcher: number; fifo: number; batcherBatches: number; fifoBatches: number; ideal: number }
> = {};
const batchOpts = {
  maxBatchTokens: batchTokens,
  maxBatchSize: config.maxBatchSize,
  maxWaitMs: config.maxWaitMs,
  padId: model.padId,
};
const mixed = WORKLOADS.flatMap((n) => workloads[n].seqs.map((s, i) => ({ s, k: i * 7 + n.length })))
  .sort((a, b) => a.k - b.k)
  .map((x) => x.s);
for (const [name, stream] of [...WORKLOADS.map((n) => [n, workloads[n].seqs] as const), ['mixed', mixed] as const]) {
  const c = await paddingComparison(stream, 16, batchOpts);
  const { idealBatches } = await import('./lib/raw.ts');
  const flat = stream.flat();
  const ideal = idealBatches(flat, batchTokens, config.maxBatchSize);
  const idealWaste =
    ideal.reduce((n, b) => n + b.length * Math.max(...b.map((s) => s.length)), 0) /
      flat.reduce((n, s) => n + s.length, 0) -
    1;
  padding[name] = {
    batcher: r3(c.batcher.waste),
    fifo: r3(c.fifo.waste),
    batcherBatches: c.batcher.batches,
    fifoBatches: c.fifo.batches,
    ideal: r3(idealWaste),
  };
  log(
    `  ${name}: batcher ${(c.batcher.waste * 100).toFixed(1)}%, FIFO ${(c.fifo.waste * 100).toFixed(1)}%, ideal ${(idealWaste * 100).toFixed(1)}%`,
  );
}

// Child processes.
async function startServer(
  extraEnv: Record<string, string>,
): Promise<{ port: number; child: ChildProcess; info: Record<string, unknown> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    env: { ...env, LOG_LEVEL: env.LOG_LEVEL ?? 'warn', ...extraEnv, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(child);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ready`);
      if (res.status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error('server not ready after 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  const info = (await (await fetch(`http://127.0.0.1:${port}/info`)).json()) as Record<string, unknown> & {
    batching: { max_batch_tokens: number };
  };
  if (info.batching.max_batch_tokens !== batchTokens)
    throw new Error(`the server batches ${info.batching.max_batch_tokens} tokens, the raw limit ${batchTokens}`);
  return { port, child, info };
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

class LoadGen {
  private constructor(private readonly child: ChildProcess) {}
  static async start(port: number): Promise<LoadGen> {
    const child = fork(path.resolve('bench/lib/load.ts'), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, BENCH_PORT: String(port) },
    });
    children.add(child);
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`load generator exited with ${code}`)));
    });
    return new LoadGen(child);
  }
  run(phase: Phase): Promise<PhaseResult> {
    return new Promise((resolve, reject) => {
      this.child.once('message', (m: { result?: PhaseResult; error?: string }) =>
        m.result ? resolve(m.result) : reject(new Error(m.error)),
      );
      this.child.send({ phase });
    });
  }
  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ exit: true });
    await exited;
  }
}

const closed = (w: WorkloadName, concurrency: number, durationMs: number, name = `${w} c=${concurrency}`): Phase => ({
  name,
  bodiesFile: files[w],
  pairsPerRequest: workloads[w].pairsPerRequest,
  mode: 'closed',
  concurrency,
  warmupMs: plan.warmupMs,
  durationMs,
});
const f0 = (x: number | null) => (x === null || Number.isNaN(x) ? '-' : x.toFixed(0));
const show = (r: PhaseResult) =>
  `${r.name}: ${r.pairsPerSec.toFixed(0)} pairs/s (${r.requests} req), p50 ${f0(r.latencyMs.p50)} / p99 ${f0(r.latencyMs.p99)} ms, ` +
  `loop p99 ${r.server.eventLoopP99Ms.toFixed(1)} ms, server CPU ${r.server.cpuCores.toFixed(2)} cores (HTTP thread ${(r.server.eventLoopUtilisation * 100).toFixed(0)}% busy; load generator ${r.clientCpuCores.toFixed(2)}), worker busy ${(r.server.inferenceBusy * 100).toFixed(0)}%, ` +
  `rows ${r.server.meanBatchRows.toFixed(1)}, waste ${(r.server.paddingWaste * 100).toFixed(1)}%${r.errors ? `, ${r.errors} errors` : ''}`;

const rawOpts = (onnxPath: string) => ({
  onnxPath,
  intraOpThreads: config.intraOpThreads,
  spinning: config.intraOpSpinning,
  maxBatchTokens: batchTokens,
  maxBatchSize: config.maxBatchSize,
  padId: model.padId,
});
const rawFp32 = await RawSession.create(rawOpts(model.onnxPath));

// 2. + 3. + 4. with the fp32 (or configured) model.
log(`starting the service (${config.modelFile})`);
const server = await startServer({});
const load = await LoadGen.start(server.port);
const sweep: PhaseResult[] = [];
for (const w of skip.has('sweep') ? [] : WORKLOADS) {
  for (const c of CONCURRENCY) {
    const r = await load.run(closed(w, c, plan.sweepMs));
    sweep.push(r);
    log(`  sweep ${show(r)}`);
  }
}

interface Round {
  raw: Record<WorkloadName, RawResult>;
  service: Record<WorkloadName, PhaseResult>;
  naive: NaiveResult;
}
const rounds: Round[] = [];
for (let i = 0; i < plan.rounds; i++) {
  const raw = {} as Round['raw'];
  const service = {} as Round['service'];
  for (const w of WORKLOADS) {
    raw[w] = await rawFp32.run(workloads[w].seqs.flat(), plan.rawSeconds);
    service[w] = await load.run(closed(w, SATURATION, plan.roundMs, `round ${i + 1} ${w} c=${SATURATION}`));
    log(
      `  round ${i + 1} ${w}: raw ${raw[w].pairsPerSec.toFixed(0)} pairs/s; service ${show(service[w])} -> ratio ${(service[w].pairsPerSec / raw[w].pairsPerSec).toFixed(3)}`,
    );
  }
  const naive = skip.has('naive')
    ? ({ pairsPerSec: NaN, latencyP50Ms: NaN, paddingWaste: NaN } as NaiveResult)
    : await naiveBaseline(model.dir, config.modelFile, workloads.rag20.requests, plan.naiveSeconds);
  log(
    `  round ${i + 1} naive transformers.js rag20: ${naive.pairsPerSec.toFixed(0)} pairs/s (p50 ${naive.latencyP50Ms.toFixed(0)} ms/request, padding waste ${(naive.paddingWaste * 100).toFixed(0)}%)`,
  );
  rounds.push({ raw, service, naive });
}

// 4. Latency at half the saturated rate.
// Saturated request rate from the pairs the server ran (completed requests in a short closed-loop window undercount).
const satRps = median(rounds.map((r) => r.service.rag20.pairsPerSec)) / workloads.rag20.pairsPerRequest;
const unloaded = await load.run(closed('rag20', 1, plan.halfMs, 'rag20 unloaded c=1'));
log(`  ${show(unloaded)}`);
const half = await load.run({
  name: `rag20 open ${(satRps / 2).toFixed(1)} req/s`,
  bodiesFile: files.rag20,
  pairsPerRequest: 20,
  mode: 'open',
  rate: satRps / 2,
  warmupMs: plan.warmupMs,
  durationMs: plan.halfMs,
});
log(`  ${show(half)}`);

// 5. Thread settings: each variant is a second server, measured alternately with the default one (unloaded c=1 and
// saturated c=64 on rag20), with the server's own CPU use, so the comparison holds within this run.
const VARIANTS: { name: string; env: Record<string, string> }[] = [
  { name: 'INTRA_OP_SPINNING=true (onnxruntime default)', env: { INTRA_OP_SPINNING: 'true' } },
  { name: 'WORKERS=2 INTRA_OP_THREADS=1', env: { WORKERS: '2', INTRA_OP_THREADS: '1' } },
];
interface VariantRun {
  name: string;
  env: Record<string, string>;
  rounds: {
    base: { unloaded: PhaseResult; saturated: PhaseResult };
    variant: { unloaded: PhaseResult; saturated: PhaseResult };
  }[];
}
const variants: VariantRun[] = [];
for (const v of skip.has('variants') ? [] : VARIANTS) {
  log(`variant ${v.name}`);
  const vServer = await startServer(v.env);
  const vLoad = await LoadGen.start(vServer.port);
  const run: VariantRun = { ...v, rounds: [] };
  for (let i = 0; i < plan.rounds; i++) {
    const pair = async (lg: LoadGen, who: string) => ({
      unloaded: await lg.run(closed('rag20', 1, plan.roundMs, `${who} round ${i + 1} rag20 c=1`)),
      saturated: await lg.run(closed('rag20', SATURATION, plan.roundMs, `${who} round ${i + 1} rag20 c=${SATURATION}`)),
    });
    const base = await pair(load, 'default');
    const variant = await pair(vLoad, v.name);
    run.rounds.push({ base, variant });
    for (const r of [base.unloaded, variant.unloaded, base.saturated, variant.saturated]) log(`  ${show(r)}`);
  }
  variants.push(run);
  await vLoad.stop();
  await stopServer(vServer.child);
}

// 6. int8.
if (skip.has('int8')) {
  log('int8 skipped');
  process.exit(0);
}
// Both services run side by side (one idle at a time), so fp32 and int8 are compared round by round.
log(`int8 (${INT8_FILE})`);
const int8Path = readModelDir(config.modelDir, INT8_FILE).onnxPath;
const rawInt8 = await RawSession.create(rawOpts(int8Path));
const server8 = await startServer({ MODEL_FILE: INT8_FILE });
const load8 = await LoadGen.start(server8.port);
const int8Rounds: { rawFp32: number; rawInt8: number; serviceFp32: number; serviceInt8: number }[] = [];
for (let i = 0; i < plan.rounds; i++) {
  const a = await rawFp32.run(workloads.rag20.seqs.flat(), plan.rawSeconds);
  const b = await rawInt8.run(workloads.rag20.seqs.flat(), plan.rawSeconds);
  const f = await load.run(closed('rag20', SATURATION, plan.roundMs, `fp32 round ${i + 1} rag20 c=${SATURATION}`));
  const s = await load8.run(closed('rag20', SATURATION, plan.roundMs, `int8 round ${i + 1} rag20 c=${SATURATION}`));
  int8Rounds.push({
    rawFp32: a.pairsPerSec,
    rawInt8: b.pairsPerSec,
    serviceFp32: f.pairsPerSec,
    serviceInt8: s.pairsPerSec,
  });
  log(
    `  int8 round ${i + 1}: raw fp32 ${a.pairsPerSec.toFixed(0)}, raw int8 ${b.pairsPerSec.toFixed(0)} pairs/s; service fp32 ${f.pairsPerSec.toFixed(0)}; ${show(s)}`,
  );
}
await load8.stop();
await stopServer(server8.child);
await load.stop();
await stopServer(server.child);
await rawFp32.close();
await rawInt8.close();

log(`ranking quality, dev split${plan.evalLimit ? ` (first ${plan.evalLimit} queries)` : ''}: fp32 vs int8`);
const evalOpts: EvalOptions = {
  data: 'data/msmarco-ko/dev.jsonl',
  corpus: 'data/msmarco-ko/msmarco-ko.jsonl',
  topK: 20,
  contexts: 3,
  terms: 'bigrams',
  limit: plan.evalLimit,
  concurrency: 8,
  rerank: true,
  json: true,
  help: false,
  configArgs: [],
};
const quality: Record<string, { mrr: number; hit1: number; queries: number }> = {};
for (const file of [config.modelFile, INT8_FILE]) {
  const rep = await evaluate(evalOpts, new EngineReranker({ ...config, modelFile: file, logLevel: 'warn' }));
  const row = rep.rows[1]!;
  quality[file] = { mrr: r3(row.mrr), hit1: r3(row.hit1), queries: rep.queries };
  log(`  ${file}: MRR@20 ${row.mrr.toFixed(4)}, hit@1 ${row.hit1.toFixed(4)} (${rep.queries} queries)`);
}

// Summary.
const halfUtilisation = ((satRps / 2) * workloads.rag20.pairsPerRequest) / unloaded.pairsPerSec;
const mdOne = mdOneTail(Math.min(0.99, halfUtilisation));
const ratio = (w: WorkloadName) => spread(rounds.map((r) => r3(r.service[w].pairsPerSec / r.raw[w].pairsPerSec)));
const satPhases = rounds.flatMap((r) => WORKLOADS.map((w) => r.service[w]));
const summary = {
  serviceOverRaw: Object.fromEntries(WORKLOADS.map((w) => [w, ratio(w)])),
  serviceOverNaive: spread(rounds.map((r) => r3(r.service.rag20.pairsPerSec / r.naive.pairsPerSec))),
  // The ceiling of the line above: a service as fast as the bare session would reach this.
  rawOverNaive: spread(rounds.map((r) => r3(r.raw.rag20.pairsPerSec / r.naive.pairsPerSec))),
  paddingWaste: { serviceUnderLoad: spread(satPhases.map((p) => r3(p.server.paddingWaste))), simulated: padding },
  eventLoopP99Ms: spread(satPhases.concat([half]).map((p) => r3(p.server.eventLoopP99Ms))),
  // Where the cores go at saturation: the raw limit has both to itself; the service shares them with its own HTTP,
  // JSON and tokenization (server CPU beyond the inference threads) and with the load generator.
  cpuCoresAtSaturation: {
    server: spread(satPhases.map((p) => r3(p.server.cpuCores))),
    httpThread: spread(satPhases.map((p) => r3(p.server.eventLoopUtilisation))),
    loadGenerator: spread(satPhases.map((p) => r3(p.clientCpuCores))),
  },
  halfLoad: {
    saturatedRequestsPerSec: r3(satRps),
    offeredRequestsPerSec: r3(satRps / 2),
    unloadedMs: unloaded.latencyMs,
    halfLoadMs: half.latencyMs,
    p99OverUnloadedP50: r3(half.latencyMs.p99 / unloaded.latencyMs.p50),
    p99OverUnloadedP99: r3(half.latencyMs.p99 / unloaded.latencyMs.p99),
    // The offered rate as a share of what one client at a time gets through: batching only pays once requests
    // overlap, so near 1 the queue, not the scheduler, sets the tail (README, Performance).
    offeredOverUnloadedThroughput: r3(halfUtilisation),
    // An ideal FIFO single server (M/D/1) with the unloaded p50 as its service time, at that utilisation.
    mdOne: { ...mdOne, p99Ms: r3(mdOne.p99 * unloaded.latencyMs.p50) },
  },
  variants: Object.fromEntries(
    variants.map((v) => [
      v.name,
      {
        saturatedThroughput: spread(
          v.rounds.map((r) => r3(r.variant.saturated.pairsPerSec / r.base.saturated.pairsPerSec)),
        ),
        unloadedP50: spread(v.rounds.map((r) => r3(r.variant.unloaded.latencyMs.p50 / r.base.unloaded.latencyMs.p50))),
        unloadedCpuCores: spread(
          v.rounds.map((r) => r3(r.variant.unloaded.server.cpuCores / r.base.unloaded.server.cpuCores)),
        ),
      },
    ]),
  ),
  int8: {
    rawSpeedup: spread(int8Rounds.map((r) => r3(r.rawInt8 / r.rawFp32))),
    serviceSpeedup: spread(int8Rounds.map((r) => r3(r.serviceInt8 / r.serviceFp32))),
    quality,
  },
};
const targets = {
  'saturated throughput >= 0.90 x raw limit (rag20, rag50, long)': WORKLOADS.map(
    (w) => summary.serviceOverRaw[w]!.median >= 0.9,
  ),
  'padding waste <= 10% (service under load)': summary.paddingWaste.serviceUnderLoad.median <= 0.1,
  '>= 3 x naive transformers.js': summary.serviceOverNaive.median >= 3,
  'event-loop delay p99 <= 20 ms': summary.eventLoopP99Ms.max <= 20,
  'p99 at half load <= 2 x unloaded (p50)': summary.halfLoad.p99OverUnloadedP50 <= 2,
};

const pkgVersion = (name: string) =>
  (JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8')) as { version: string }).version;
const result = {
  date: startedAt.toISOString(),
  mode: quick ? 'quick' : 'full',
  machine: {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    memoryGiB: r3(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    loadAvgStart,
    loadAvgEnd: os.loadavg(),
    node: process.version,
    onnxruntime: ort.env.versions.node ?? pkgVersion('onnxruntime-node'),
    tokenizers: pkgVersion('tokenizers'),
    transformersJs: pkgVersion('@huggingface/transformers'),
  },
  settings: {
    model: model.name,
    modelFile: config.modelFile,
    maxBatchTokens: batchTokens,
    maxBatchSize: config.maxBatchSize,
    maxWaitMs: config.maxWaitMs,
    workers: config.workers,
    intraOpThreads: config.intraOpThreads,
    intraOpSpinning: config.intraOpSpinning,
    serverLogLevel: env.LOG_LEVEL ?? 'warn',
    serverInfo: server.info,
  },
  workloads: Object.fromEntries(
    WORKLOADS.map((w) => [
      w,
      {
        requests: workloads[w].requests.length,
        pairsPerRequest: workloads[w].pairsPerRequest,
        ...lengthStats(workloads[w]),
      },
    ]),
  ),
  plan,
  summary,
  targets,
  sweep,
  rounds,
  halfLoad: { unloaded, half },
  variants,
  int8Rounds,
};
const stamp = startedAt.toISOString().slice(0, 10);
const out = outIdx >= 0 ? argv[outIdx + 1]! : `bench/results/${stamp}-throughput${quick ? '-quick' : ''}.json`;
writeFileSync(out, JSON.stringify(result, null, 1) + '\n');
writeFileSync(out.replace(/\.json$/, '.svg'), renderChart(result));
log(`wrote ${out} and ${out.replace(/\.json$/, '.svg')}`);

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
console.log(
  `\nko-rerank bench (${result.mode}) on ${result.machine.cores} x ${result.machine.cpu}, node ${process.version}, onnxruntime ${result.machine.onnxruntime}, load avg ${loadAvgStart.map((x) => x.toFixed(1)).join('/')}`,
);
console.log('medians of rounds (min-max):');
for (const w of WORKLOADS) {
  const s = summary.serviceOverRaw[w]!;
  console.log(
    `  service / raw limit, ${w.padEnd(5)}: ${s.median.toFixed(3)} (${s.min.toFixed(3)}-${s.max.toFixed(3)})   raw ${median(rounds.map((r) => r.raw[w].pairsPerSec)).toFixed(0)} pairs/s, service ${median(rounds.map((r) => r.service[w].pairsPerSec)).toFixed(0)} pairs/s`,
  );
}
console.log(
  `  service / naive transformers.js (rag20): ${summary.serviceOverNaive.median.toFixed(2)} (${summary.serviceOverNaive.min.toFixed(2)}-${summary.serviceOverNaive.max.toFixed(2)}); raw limit / naive ${summary.rawOverNaive.median.toFixed(2)}`,
);
console.log(
  `  padding waste under load: ${pct(summary.paddingWaste.serviceUnderLoad.median)}; simulated batcher vs FIFO: ${Object.entries(
    padding,
  )
    .map(([k, v]) => `${k} ${pct(v.batcher)} vs ${pct(v.fifo)}`)
    .join(', ')}`,
);
console.log(
  `  CPU at saturation: server ${summary.cpuCoresAtSaturation.server.median.toFixed(2)} cores (HTTP thread ${summary.cpuCoresAtSaturation.httpThread.median.toFixed(2)}), load generator ${summary.cpuCoresAtSaturation.loadGenerator.median.toFixed(2)} cores (of ${os.cpus().length})`,
);
console.log(
  `  event-loop delay p99: median ${summary.eventLoopP99Ms.median.toFixed(1)} ms, max ${summary.eventLoopP99Ms.max.toFixed(1)} ms`,
);
console.log(`  rag20 at half load (${(satRps / 2).toFixed(1)} req/s): p99 ${half.latencyMs.p99.toFixed(0)} ms vs unloaded p50 ${unloaded.latencyMs.p50.toFixed(0)} / p99 ${unloaded.latencyMs.p99.toFixed(0)} ms -> ${summary.halfLoad.p99OverUnloadedP50.toFixed(2)} x (p99/p99 ${summary.halfLoad.p99OverUnloadedP99.toFixed(2)} x; offered = ${summary.halfLoad.offeredOverUnloadedThroughput.toFixed(2)} x the one-client throughput,
   where an ideal FIFO server (M/D/1, service time = unloaded p50) has p99 ${mdOne.p99.toFixed(1)} x = ${summary.halfLoad.mdOne.p99Ms.toFixed(0)} ms)`);
for (const [name, v] of Object.entries(summary.variants)) {
  console.log(
    `  ${name} vs default: saturated throughput ${v.saturatedThroughput.median.toFixed(2)} x, unloaded p50 ${v.unloadedP50.median.toFixed(2)} x, unloaded server CPU ${v.unloadedCpuCores.median.toFixed(2)} x`,
  );
}
console.log(
  `  int8: raw ${summary.int8.rawSpeedup.median.toFixed(2)} x, service ${summary.int8.serviceSpeedup.median.toFixed(2)} x; MRR@20 ${Object.entries(
    quality,
  )
    .map(([k, v]) => `${k} ${v.mrr}`)
    .join(' vs ')}`,
);
for (const [k, v] of Object.entries(targets))
  console.log(
    `  [${(Array.isArray(v) ? v.every(Boolean) : v) ? 'met ' : 'MISS'}] ${k}${Array.isArray(v) ? ` (${v.map((b) => (b ? 'y' : 'n')).join('/')})` : ''}`,
  );
// The eval engines' and sessions' native threads may keep the loop alive; everything is written.
process.exit(0);
