// The inference worker: owns one onnxruntime InferenceSession. session.run is synchronous native work,
// so it runs here and never on the HTTP event loop. Micro-batches arrive as transferable buffers.
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { sessionOptions } from './session-options.ts';
import { padToMultiple, toFloat32 } from './tensors.ts';
import type { FromWorker, ToWorker, WorkerStart } from './protocol.ts';

const init = workerData as WorkerStart;
const withdraw = new Int32Array(init.withdraw);
const port = parentPort!;

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

async function createSession(): Promise<{
  session: ort.InferenceSession;
  provider: 'cuda' | 'cpu';
  fallbackReason?: string;
}> {
  if (init.device === 'cpu')
    return { session: await ort.InferenceSession.create(init.onnxPath, sessionOptions('cpu', init)), provider: 'cpu' };
  try {
    // Quiet: a missing CUDA library is reported once, by our own fallback warning.
    const session = await ort.InferenceSession.create(init.onnxPath, {
      ...sessionOptions('cuda', init),
      logSeverityLevel: 4,
    });
    return { session, provider: 'cuda' };
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0] ?? String(err);
    if (init.device === 'cuda') throw new Error(`DEVICE=cuda but the CUDA execution provider failed: ${reason}`);
    const session = await ort.InferenceSession.create(init.onnxPath, sessionOptions('cpu', init));
    return { session, provider: 'cpu', fallbackReason: reason };
  }
}

function buildFeeds(
  session: ort.InferenceSession,
  rows: number,
  seqLen: number,
  ids: BigInt64Array,
  mask: BigInt64Array,
  typeIds: BigInt64Array | undefined,
) {
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) {
    if (name === 'input_ids') feeds[name] = new ort.Tensor('int64', ids, [rows, seqLen]);
    else if (name === 'attention_mask') feeds[name] = new ort.Tensor('int64', mask, [rows, seqLen]);
    // The pair's segment ids (BERT-family layouts); all 0 when the layout has a single segment (XLM-R).
    else if (name === 'token_type_ids')
      feeds[name] = new ort.Tensor('int64', typeIds ?? new BigInt64Array(rows * seqLen), [rows, seqLen]);
    else throw new Error(`model declares an unsupported input ${JSON.stringify(name)}`);
  }
  return feeds;
}

function pickLogits(
  session: ort.InferenceSession,
  out: ort.InferenceSession.OnnxValueMapType,
  rows: number,
): Float32Array {
  const name = session.outputNames.includes('logits') ? 'logits' : session.outputNames[0]!;
  const tensor = out[name] as ort.Tensor;
  // fp16 exports return float16 logits: read the type from the output, not from an assumption.
  const data = toFloat32(tensor.type, tensor.data);
  const perRow = data.length / rows;
  const logits = new Float32Array(rows);
  // num_labels = 1 for rerankers: [rows, 1]; for wider heads take the first column.
  for (let r = 0; r < rows; r++) logits[r] = data[r * perRow]!;
  return logits;
}

async function main(): Promise<void> {
  let created;
  try {
    created = await createSession();
  } catch (err) {
    post({ type: 'init-error', message: (err as Error).message });
    return;
  }
  const { session, provider, fallbackReason } = created;

  async function run(
    rows: number,
    seqLen: number,
    ids: BigInt64Array,
    mask: BigInt64Array,
    typeIds?: BigInt64Array,
  ): Promise<Float32Array> {
    const out = await session.run(buildFeeds(session, rows, seqLen, ids, mask, typeIds));
    return pickLogits(session, out, rows);
  }

  // Warm-up: one small batch so the first request does not pay for lazy initialisation.
  const t0 = performance.now();
  try {
    const seqLen = 16;
    const ids = new BigInt64Array(2 * seqLen).fill(5n);
    ids[0] = 0n;
    ids[seqLen - 1] = 2n;
    ids[seqLen] = 0n;
    ids[2 * seqLen - 1] = 2n;
    await run(2, seqLen, ids, new BigInt64Array(2 * seqLen).fill(1n));
  } catch (err) {
    post({ type: 'init-error', message: `warm-up run failed: ${(err as Error).message}` });
    return;
  }
  post({
    type: 'ready',
    provider,
    fallbackReason,
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
    ortVersion: ort.env.versions.node ?? ort.env.versions.common ?? 'unknown',
    warmupMs: performance.now() - t0,
  });

  // One session.run at a time: the batcher keeps a second micro-batch queued here (OnnxBackend.slots) so the next run
  // starts at once, but two runs at once on one session would only share its intra-op threads and contend for the
  // cores (on a 2-core machine they did; inferenceMs also counts only this run's own time). A queued run can still be
  // withdrawn until it starts (the `withdraw` cell), so a light request need not wait behind it.
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (msg: ToWorker) => {
    // The heartbeat is answered at once, not after the queued runs: it says this event loop turns.
    if (msg.type === 'ping') return post({ type: 'pong' });
    chain = chain.then(() => handle(msg));
  });
  async function handle(msg: ToWorker): Promise<void> {
    // Messages of other types are not this worker's (a test worker wrapping this one handles its own).
    if (msg.type !== 'run' && msg.type !== 'close') return;
    if (msg.type === 'close') {
      // Runs queued before this message have finished (the chain); nothing else arrives after it.
      await session.release();
      port.close();
      return;
    }
    if (Atomics.compareExchange(withdraw, 0, msg.id, 0) === msg.id) {
      // Asked back before it started (a lighter request arrived): the main thread queues its rows again.
      post({ type: 'withdrawn', id: msg.id });
      return;
    }
    post({ type: 'started', id: msg.id });
    const start = performance.now();
    try {
      let seqLen = msg.seqLen;
      let ids: BigInt64Array = new BigInt64Array(msg.ids);
      let mask: BigInt64Array = new BigInt64Array(msg.mask);
      let typeIds: BigInt64Array | undefined = msg.typeIds ? new BigInt64Array(msg.typeIds) : undefined;
      // Tensor cores want sequence lengths in multiples of 8 (fp16 GEMMs); on CPU the extra padding is only cost.
      if (provider === 'cuda')
        ({ seqLen, ids, mask, typeIds } = padToMultiple(msg.rows, seqLen, ids, mask, 8, msg.padId ?? 1, typeIds));
      const logits = await run(msg.rows, seqLen, ids, mask, typeIds);
      post(
        { type: 'result', id: msg.id, logits: logits.buffer as ArrayBuffer, inferenceMs: performance.now() - start },
        [logits.buffer as ArrayBuffer],
      );
    } catch (err) {
      post({ type: 'run-error', id: msg.id, message: (err as Error).message });
    }
  }
}

void main();
