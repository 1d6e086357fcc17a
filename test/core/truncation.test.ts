// Window planning: hand-checked starts, coverage, caps, and the pair layout of each window.
import t from 'tap';
import { planPair, windowStarts } from '../../src/core/truncation.ts';

const layout = { prefix: [0], middle: [2, 2], suffix: [2], source: 'RobertaProcessing' };
const range = (n: number, from = 100) => Array.from({ length: n }, (_, i) => from + i);

t.test('windowStarts: one every stride = window - overlap until the end is covered', async (t) => {
  t.same(windowStarts(10, 10, 2, 8), [0], 'fits: one window');
  t.same(windowStarts(11, 10, 2, 8), [0, 8], 'one token over: a short second window');
  t.same(windowStarts(30, 10, 2, 8), [0, 8, 16, 24]);
  t.same(windowStarts(30, 10, 0, 8), [0, 10, 20]);
  t.same(windowStarts(100, 10, 2, 3), [0, 8, 16], 'capped at max: the first windows, tail not covered');
});

t.test('planPair without chunking: the query whole, the passage cut to the window', async (t) => {
  const q = range(4, 10);
  const p = range(40);
  const plan = planPair(q, p, { maxLen: 32, queryMaxShare: 0.75, layout });
  t.equal(plan.window, 32 - 4 - 4);
  t.equal(plan.seqs.length, 1);
  t.same(plan.seqs[0], [0, ...q, 2, 2, ...p.slice(0, 24), 2]);
  t.equal(plan.truncated, true);
  const capped = planPair(q, range(20), { maxLen: 32, queryMaxShare: 0.75, layout, maxTokensPerDoc: 5 });
  t.same(capped.seqs[0], [0, ...q, 2, 2, ...range(5), 2], 'max_tokens_per_doc caps the passage');
  t.equal(capped.truncated, true);
  const big = planPair(q, range(20), { maxLen: 32, queryMaxShare: 0.75, layout, maxTokensPerDoc: 4096 });
  t.equal(big.window, 24, 'max_tokens_per_doc is clamped to what fits');
  t.equal(big.truncated, false);
});

t.test('planPair with chunking: overlapping windows covering the whole passage', async (t) => {
  const q = range(4, 10);
  const p = range(60);
  const plan = planPair(q, p, {
    maxLen: 32,
    queryMaxShare: 0.75,
    layout,
    chunking: { maxChunksPerDoc: 8, overlapTokens: 4 },
  });
  // window 24, stride 20: starts 0, 20, 40 (the last window has the remaining 20 tokens)
  t.equal(plan.seqs.length, 3);
  t.equal(plan.truncated, false);
  t.same(plan.seqs[0], [0, ...q, 2, 2, ...p.slice(0, 24), 2]);
  t.same(plan.seqs[1], [0, ...q, 2, 2, ...p.slice(20, 44), 2]);
  t.same(plan.seqs[2], [0, ...q, 2, 2, ...p.slice(40, 60), 2]);
  for (const s of plan.seqs) t.ok(s.length <= 32, 'each window fits max_len');
  const few = planPair(q, p, {
    maxLen: 32,
    queryMaxShare: 0.75,
    layout,
    chunking: { maxChunksPerDoc: 2, overlapTokens: 4 },
  });
  t.equal(few.seqs.length, 2);
  t.equal(few.truncated, true, 'tokens past the last window: truncated');
  const short = planPair(q, range(10), {
    maxLen: 32,
    queryMaxShare: 0.75,
    layout,
    chunking: { maxChunksPerDoc: 8, overlapTokens: 4 },
  });
  t.equal(short.seqs.length, 1, 'a passage that fits is not chunked');
  const huge = planPair(q, p, {
    maxLen: 32,
    queryMaxShare: 0.75,
    layout,
    chunking: { maxChunksPerDoc: 8, overlapTokens: 1000 },
  });
  t.same(windowStarts(60, 24, 12, 8), [0, 12, 24, 36]);
  t.equal(huge.seqs.length, 4, 'overlap is clamped to half a window');
});
