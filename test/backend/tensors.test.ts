import t from 'tap';
import { halfToFloat, padToMultiple, toFloat32 } from '../../src/backend/tensors.ts';

t.test('halfToFloat decodes IEEE binary16 patterns', async (t) => {
  t.equal(halfToFloat(0x0000), 0);
  t.equal(halfToFloat(0x3c00), 1);
  t.equal(halfToFloat(0xc000), -2);
  t.equal(halfToFloat(0x3555), 0.333251953125, '1/3 rounded to half precision');
  t.equal(halfToFloat(0x7bff), 65504, 'largest normal');
  t.equal(halfToFloat(0x0001), 2 ** -24, 'smallest subnormal');
  t.equal(halfToFloat(0x7c00), Infinity);
  t.equal(halfToFloat(0xfc00), -Infinity);
  t.ok(Number.isNaN(halfToFloat(0x7e00)), 'NaN stays NaN (sorted last by the engine)');
});

t.test('toFloat32 passes float32 through and converts float16 words', async (t) => {
  const f = new Float32Array([1.5, -2]);
  t.equal(toFloat32('float32', f), f, 'no copy for float32');
  t.same(Array.from(toFloat32('float16', new Uint16Array([0x3e00, 0xc000, 0x4900]))), [1.5, -2, 10]);
  t.throws(() => toFloat32('int64', new BigInt64Array(1)), /float32 or float16/);
});

t.test('padToMultiple pads each row to a multiple of 8 with the pad id, masked out', async (t) => {
  const ids = BigInt64Array.from([0n, 5n, 2n, 0n, 2n, 1n]);
  const mask = BigInt64Array.from([1n, 1n, 1n, 1n, 1n, 0n]);
  const out = padToMultiple(2, 3, ids, mask, 8, 1);
  t.equal(out.seqLen, 8);
  t.same(Array.from(out.ids), [0n, 5n, 2n, 1n, 1n, 1n, 1n, 1n, 0n, 2n, 1n, 1n, 1n, 1n, 1n, 1n]);
  t.same(Array.from(out.mask), [1n, 1n, 1n, 0n, 0n, 0n, 0n, 0n, 1n, 1n, 0n, 0n, 0n, 0n, 0n, 0n]);
  const same = padToMultiple(1, 8, new BigInt64Array(8), new BigInt64Array(8), 8, 1);
  t.equal(same.seqLen, 8, 'already a multiple: unchanged');
});

t.test('padToMultiple pads token type ids with 0 beside the ids and mask (CUDA, BERT-family pairs)', async (t) => {
  const ids = BigInt64Array.from([101n, 7n, 102n, 8n, 102n, 101n, 9n, 102n, 0n, 0n]);
  const mask = BigInt64Array.from([1n, 1n, 1n, 1n, 1n, 1n, 1n, 1n, 0n, 0n]);
  const types = BigInt64Array.from([0n, 0n, 0n, 1n, 1n, 0n, 0n, 0n, 0n, 0n]);
  const out = padToMultiple(2, 5, ids, mask, 8, 0, types);
  t.equal(out.seqLen, 8);
  t.same([...out.typeIds!].map(Number), [0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  t.same([...out.ids.subarray(8, 13)].map(Number), [101, 9, 102, 0, 0]);
  t.equal(padToMultiple(2, 5, ids, mask, 8, 0).typeIds, undefined, 'none in, none out');
});
