// The ONNX backend: worker threads, device selection, and an event loop that stays free during inference.
import t from 'tap';
import { RunWithdrawnError } from '../../src/backend/contract.ts';
import { OnnxBackend, watchdogBoundMs } from '../../src/backend/onnx.ts';
import { readModelDir } from '../../src/backend/model-dir.ts';
import { Batcher } from '../../src/core/batcher.ts';
import { testConfig } from '../helpers/server.ts';

const model = readModelDir(testConfig().modelDir);

t.test('DEVICE=auto falls back to CPU with the reason when CUDA is missing', async (t) => {
  const backend = await OnnxBackend.start({
    onnxPath: model.onnxPath,
    device: 'auto',
    intraOpThreads: 1,
    spinning: false,
    cudaDeviceId: 0,
    workers: 1,
  });
  t.teardown(() => backend.close());
  if (backend.info.provider === 'cuda') {
    t.pass('CUDA is available here: no fallback');
    return;
  }
  t.equal(backend.info.provider, 'cpu');
  t.type(backend.info.fallbackReason, 'string');
  t.ok(backend.info.fallbackReason!.length > 0, `reason: ${backend.info.fallbackReason}`);
  t.same(backend.info.inputNames.slice().sort(), ['attention_mask', 'input_ids']);
  t.match(backend.info.ortVersion, /^1\.30\./);
});

t.test('DEVICE=cuda refuses to start without CUDA', async (t) => {
  let backend: OnnxBackend | undefined;
  try {
    backend = await OnnxBackend.start({
      onnxPath: model.onnxPath,
      device: 'cuda',
      intraOpThreads: 1,
      spinning: false,
      cudaDeviceId: 0,
      workers: 1,
    });
  } catch (err) {
    t.match((err as Error).message, /DEVICE=cuda/);
    return;
  }
  t.equal(backend.info.provider, 'cuda', 'CUDA is available here');
  await backend.close();
});

t.test('inference runs off the event loop, and padding does not change a row', async (t) => {
  const backend = await OnnxBackend.start({
    onnxPath: model.onnxPath,
    device: 'cpu',
    intraOpThreads: 0,
    spinning: false,
    cudaDeviceId: 0,
    workers: 1,
  });
  t.teardown(() => backend.close());
  const row = (len: number) => [0, ...Array.from({ length: len - 2 }, (_, i) => 10 + ((i * 37) % 5000)), 2];
  const big = Batcher.buildTensors(
    Array.from({ length: 64 }, () => row(model.maxLen)),
    model.padId,
  );
  const gaps: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
  }, 5);
  const t0 = performance.now();
  const out = await backend.run(big);
  const ms = performance.now() - t0;
  clearInterval(timer);
  t.equal(out.logits.length, 64);
  const worst = Math.max(...gaps);
  t.ok(worst < Math.max(100, ms / 2), `largest timer gap ${worst.toFixed(1)} ms while a ${ms.toFixed(0)} ms batch ran`);

  const short = row(12);
  const alone = (await backend.run(Batcher.buildTensors([short], model.padId))).logits[0]!;
  const padded = (await backend.run(Batcher.buildTensors([short, row(200)], model.padId))).logits[0]!;
  t.ok(Math.abs(alone - padded) < 1e-4, `alone ${alone} vs padded ${padded}`);
});

t.test('close() finishes the queued runs, releases the session and lets the worker exit on its own', async (t) => {
  const backend = await OnnxBackend.start({
    onnxPath: model.onnxPath,
    device: 'cpu',
    intraOpThreads: 1,
    spinning: false,
    cudaDeviceId: 0,
    workers: 1,
  });
  const worker = (backend as unknown as { workers: { worker: import('node:worker_threads').Worker }[] }).workers[0]!
    .worker;
  const exitCode = new Promise<number>((resolve) => worker.once('exit', resolve));
  const rows = Array.from({ length: 8 }, (_, i) => [0, ...Array.from({ length: 100 + i }, (_, k) => 10 + k), 2]);
  const runs = [
    backend.run(Batcher.buildTensors(rows, model.padId)),
    backend.run(Batcher.buildTensors(rows.slice(0, 2), model.padId)),
  ];
  await backend.close();
  const done = await Promise.all(runs);
  t.same(
    done.map((d) => d.logits.length),
    [8, 2],
    'runs sent before close() were answered',
  );
  t.equal(await exitCode, 0, 'the worker exited by itself (terminate() would give 1)');
  await t.rejects(backend.run(Batcher.buildTensors(rows, model.padId)), /closed/);
});

t.test('a run queued behind a running one is withdrawn when its signal aborts; nothing else changes', async (t) => {
  const backend = await OnnxBackend.start({
    onnxPath: model.onnxPath,
    device: 'cpu',
    intraOpThreads: 1,
    spinning: false,
    cudaDeviceId: 0,
    workers: 1,
  });
  t.teardown(() => backend.close());
  const row = (len: number, seed: number) => [
    0,
    ...Array.from({ length: len - 2 }, (_, i) => 10 + ((i * 37 + seed) % 5000)),
    2,
  ];
  const long = Batcher.buildTensors(
    Array.from({ length: 32 }, (_, i) => row(model.maxLen, i)),
    model.padId,
  );
  const small = () => Batcher.buildTensors([row(40, 1), row(30, 2)], model.padId);
  const reference = (await backend.run(small())).logits;

  // The worker takes runs in order; the cell is set before it reaches the second one, so that one is given back.
  const first = backend.run(long);
  const queued = new AbortController();
  const second = backend.run(small(), queued.signal);
  queued.abort();
  const after = backend.run(small());
  await t.rejects(second, RunWithdrawnError, 'the queued run is withdrawn');
  t.equal((await first).logits.length, 32, 'the running one finishes');
  t.same(Array.from((await after).logits), Array.from(reference), 'the run after it is answered normally');

  // Aborting a run that already finished (or a late abort) matches nothing: the next runs are unaffected.
  const done = new AbortController();
  const finished = await backend.run(small(), done.signal);
  done.abort();
  t.same(Array.from(finished.logits), Array.from(reference));
  t.same(Array.from((await backend.run(small())).logits), Array.from(reference));
  // An already aborted signal never reaches the worker.
  await t.rejects(backend.run(small(), AbortSignal.abort()), RunWithdrawnError);
});

t.test(
  'the run bound: 20x the measured expected time, at least 2 s, at most WATCHDOG_MS per 1,000 tokens',
  async (t) => {
    t.equal(watchdogBoundMs(0, 4096, 0, 0.01), 0, 'WATCHDOG_MS=0: off');
    t.equal(watchdogBoundMs(10_000, 4096), 40_960, 'nothing measured yet: WATCHDOG_MS per 1,000 padded tokens');
    t.equal(watchdogBoundMs(10_000, 500), 10_000, '... never less than WATCHDOG_MS');
    t.equal(watchdogBoundMs(10_000, 100, 0, 0.05), 2000, 'measured, a small run: the 2 s floor');
    t.equal(watchdogBoundMs(10_000, 16_384, 0, 0.05), 16_384, 'measured, a large run: 20x its expected 819 ms');
    t.equal(watchdogBoundMs(10_000, 4096, 0, 1), 40_960, 'never more than the WATCHDOG_MS ceiling');
    t.equal(watchdogBoundMs(1500, 100, 0, 0.05), 1500, 'a WATCHDOG_MS below the floor wins');
  },
);
