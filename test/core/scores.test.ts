import t from 'tap';
import { rankOrder, sigmoid, softmax } from '../../src/core/scores.ts';

t.test('softmax is stable, sums to 1, and matches the direct formula', async (t) => {
  const logits = [1000, 999, -1000];
  const s = softmax(logits);
  t.ok(Math.abs(s.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  t.ok(s.every((x) => Number.isFinite(x)));
  const direct = [1, Math.exp(-1), 0].map((x) => x / (1 + Math.exp(-1)));
  s.forEach((x, i) => t.ok(Math.abs(x - direct[i]!) < 1e-12, `item ${i}`));
  const small = softmax(new Float32Array([0.5, -1.25, 3]));
  const e = [0.5, -1.25, 3].map(Math.exp);
  const z = e.reduce((a, b) => a + b, 0);
  small.forEach((x, i) => t.ok(Math.abs(x - e[i]! / z) < 1e-12));
});

t.test('softmax ignores NaN and handles the empty list', async (t) => {
  t.same(softmax([]), []);
  const s = softmax([NaN, 0, 0]);
  t.equal(s[0], 0);
  t.ok(Math.abs(s[1]! - 0.5) < 1e-12);
});

t.test('rankOrder sorts by logit desc, NaN last, ties in input order', async (t) => {
  t.same(rankOrder([0.1, NaN, 3, 0.1, -2]), [2, 0, 3, 4, 1]);
});

t.test('sigmoid is symmetric and saturates without overflow', async (t) => {
  t.equal(sigmoid(0), 0.5);
  t.ok(Math.abs(sigmoid(2) + sigmoid(-2) - 1) < 1e-15);
  t.equal(sigmoid(-1000), 0);
  t.equal(sigmoid(1000), 1);
});
