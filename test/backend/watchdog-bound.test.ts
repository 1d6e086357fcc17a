// The watchdog's time bound of one run follows its size: WATCHDOG_MS per 1,000 padded tokens, and beyond 512 tokens a
// row also the row length / 512 (attention's cost per token grows with the length), never below WATCHDOG_MS.
import t from 'tap';
import { watchdogBoundMs } from '../../src/backend/onnx.ts';

t.test('watchdogBoundMs', async (t) => {
  t.equal(watchdogBoundMs(0, 100_000, 8192), 0, '0 = off');
  t.equal(watchdogBoundMs(10_000, 300, 300), 10_000, 'never below WATCHDOG_MS');
  t.equal(watchdogBoundMs(10_000, 2048, 512), 20_480, '512-token rows: linear in tokens');
  t.equal(watchdogBoundMs(10_000, 2048, 128), 20_480, 'short rows: linear in tokens');
  t.equal(watchdogBoundMs(10_000, 8192, 8192), Math.round(10_000 * 8.192 * 16), 'one 8,192-token row: x (8192/512)');
  t.ok(watchdogBoundMs(10_000, 8192, 8192) > 16 * watchdogBoundMs(10_000, 8192, 512) - 1, 'grows with the length');
  // measured (ms per unit of work): 20x the expected time, the long row's work counted x (8192/512) as well
  t.equal(watchdogBoundMs(10_000, 8192, 8192, 0.05), Math.round(20 * 8192 * 16 * 0.05), 'measured: 20x, long row x16');
  t.equal(watchdogBoundMs(10_000, 8192, 512, 0.05), Math.round(20 * 8192 * 0.05), 'measured: 512-token rows');
});
