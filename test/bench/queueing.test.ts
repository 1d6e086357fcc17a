// The M/D/1 reference the benchmark compares its half-load tail with.
import t from 'tap';
import { mdOneTail } from '../../bench/lib/queueing.ts';

t.test('matches the Pollaczek-Khinchine mean wait of M/D/1', async (t) => {
  for (const rho of [0.3, 0.5, 0.8]) {
    const q = mdOneTail(rho);
    const expected = rho / (2 * (1 - rho)); // in service times
    t.ok(
      Math.abs(q.meanWait - expected) / expected < 0.05,
      `rho ${rho}: mean wait ${q.meanWait.toFixed(3)} vs ${expected.toFixed(3)}`,
    );
  }
});

t.test('the tail grows with the load and never beats the service time', async (t) => {
  const light = mdOneTail(0.05);
  const half = mdOneTail(0.5);
  const heavy = mdOneTail(0.85);
  t.ok(light.p50 >= 1 && light.p50 < 1.01, `nearly idle: p50 ${light.p50}`);
  t.ok(
    light.p99 < half.p99 && half.p99 < heavy.p99,
    `p99 ${light.p99.toFixed(2)} < ${half.p99.toFixed(2)} < ${heavy.p99.toFixed(2)}`,
  );
  t.ok(heavy.p99 > 8, `at 85% the p99 is many service times (${heavy.p99.toFixed(1)})`);
  t.same(mdOneTail(0.5, 1000, 7), mdOneTail(0.5, 1000, 7), 'seeded');
  t.throws(() => mdOneTail(1), RangeError);
});
