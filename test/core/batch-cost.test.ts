// Long rows count their square against the micro-batch budget: a row of L > 512 tokens counts L x L / 512, so long
// pairs run one or a few at a time while short ones fill the budget; a pair over the budget runs alone.
import t from 'tap';
import { Batcher, batchCost } from '../../src/core/batcher.ts';

t.test('batchCost: tokens up to 512 a row, then length / 512 times the tokens', async (t) => {
  t.equal(batchCost(4, 512), 2048);
  t.equal(batchCost(16, 128), 2048);
  t.equal(batchCost(1, 2048), 8192);
  t.equal(batchCost(1, 8192), 131_072);
});

t.test(
  'bestWindow under a 2,048 budget: sixteen 128-token rows, one 2,048-token row, an 8,192-token row alone',
  async (t) => {
    const opts = { maxBatchTokens: 2048, maxBatchSize: 64 };
    t.same(Batcher.bestWindow(Array(32).fill(128), undefined, opts), [0, 16]);
    t.same(Batcher.bestWindow([2048, 2048, 2048], undefined, opts), [0, 1], 'not three at 2,048 tokens each');
    t.same(Batcher.bestWindow([8192, 8192], undefined, opts), [0, 1], 'over the budget: alone');
    const cuda = { maxBatchTokens: 16384, maxBatchSize: 64 };
    t.same(Batcher.bestWindow([2048, 2048, 2048, 2048], undefined, cuda), [0, 2], '16,384: two 2,048-token rows');
  },
);
