// Session options from our settings (shared by the worker and the raw benchmark), and what onnxruntime does with them.
import t from 'tap';
import ort from 'onnxruntime-node';
import { sessionOptions } from '../../src/backend/session-options.ts';
import { readModelDir } from '../../src/backend/model-dir.ts';
import { Batcher } from '../../src/core/batcher.ts';
import { testConfig } from '../helpers/server.ts';

t.test('CPU: threads, spinning off as config entries, no CUDA options', async (t) => {
  const o = sessionOptions('cpu', { intraOpThreads: 2, spinning: false, cudaDeviceId: 5 });
  t.same(o.executionProviders, ['cpu']);
  t.equal(o.intraOpNumThreads, 2);
  t.equal(o.interOpNumThreads, 1);
  t.equal(o.graphOptimizationLevel, 'all');
  t.same(o.extra, { session: { 'intra_op.allow_spinning': '0', 'inter_op.allow_spinning': '0' } });
  const dflt = sessionOptions('cpu', { intraOpThreads: 0, spinning: true, cudaDeviceId: 0 });
  t.equal(dflt.intraOpNumThreads, undefined, '0 leaves the thread count to onnxruntime');
  t.equal(dflt.extra, undefined, 'spinning on is onnxruntime’s own default: no entry');
});

t.test('CUDA: the device ordinal goes to the provider', async (t) => {
  t.same(sessionOptions('cuda', { intraOpThreads: 0, spinning: false, cudaDeviceId: 3 }).executionProviders, [
    { name: 'cuda', deviceId: 3 },
  ]);
});

t.test('onnxruntime-node accepts both spinning settings and they give the same logits', async (t) => {
  const model = readModelDir(testConfig().modelDir);
  const batch = Batcher.buildTensors(
    [
      [0, 100, 200, 2, 2, 300, 2],
      [0, 7, 2, 2, 9, 10, 11, 12, 2],
    ],
    model.padId,
  );
  const logits: Float32Array[] = [];
  for (const spinning of [true, false]) {
    const s = await ort.InferenceSession.create(
      model.onnxPath,
      sessionOptions('cpu', { intraOpThreads: 1, spinning, cudaDeviceId: 0 }),
    );
    const out = await s.run({
      input_ids: new ort.Tensor('int64', batch.ids, [batch.rows, batch.seqLen]),
      attention_mask: new ort.Tensor('int64', batch.mask, [batch.rows, batch.seqLen]),
    });
    logits.push(out.logits!.data as Float32Array);
    await s.release();
  }
  t.same([...logits[0]!], [...logits[1]!]);
});
