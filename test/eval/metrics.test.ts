// IR metrics checked against values worked out by hand (binary relevance; ranks are 1-based).
import t, { type Test } from 'tap';
import { firstRelevantRank, hitAt, ndcgAt, reciprocalRankAt, summarize } from '../../src/eval/metrics.ts';

const close = (t: Test, got: number, want: number, msg: string) =>
  t.ok(Math.abs(got - want) < 1e-9, `${msg}: ${got} ~ ${want}`);

// A: relevant doc 9 at rank 3.
const A = { ranking: [5, 2, 9, 7, 1], relevant: new Set([9]) };
// B: relevant docs 8 and 6 at ranks 2 and 4.
const B = { ranking: [4, 8, 3, 6], relevant: new Set([8, 6]) };
// C: the relevant doc 7 was not retrieved.
const C = { ranking: [1, 2, 3], relevant: new Set([7]) };

t.test('hit@k and the first relevant rank', async (t) => {
  t.equal(firstRelevantRank(A.ranking, A.relevant), 3);
  t.equal(firstRelevantRank(A.ranking, A.relevant, 2), undefined, 'cut before rank 3');
  t.equal(firstRelevantRank(C.ranking, C.relevant), undefined);
  t.same(
    [1, 2, 3, 5].map((k) => hitAt(A.ranking, A.relevant, k)),
    [0, 0, 1, 1],
  );
  t.same(
    [1, 2, 3].map((k) => hitAt(B.ranking, B.relevant, k)),
    [0, 1, 1],
  );
  t.equal(hitAt(C.ranking, C.relevant, 10), 0);
});

t.test('reciprocal rank@k', async (t) => {
  close(t, reciprocalRankAt(A.ranking, A.relevant, 20), 1 / 3, 'A: first hit at 3 -> 1/3');
  t.equal(reciprocalRankAt(A.ranking, A.relevant, 2), 0, 'A@2: the hit at 3 is past the cut');
  close(
    t,
    reciprocalRankAt(B.ranking, B.relevant, 20),
    0.5,
    'B: first hit at 2 -> 1/2 (the second hit does not count)',
  );
  t.equal(reciprocalRankAt(C.ranking, C.relevant, 20), 0);
});

t.test('nDCG@k with binary gains', async (t) => {
  // A: DCG = 1/log2(3+1) = 1/2; ideal (one relevant doc at rank 1) = 1/log2(2) = 1 -> 0.5.
  close(t, ndcgAt(A.ranking, A.relevant, 10), 0.5, 'A');
  // B: DCG = 1/log2(3) + 1/log2(5) = 0.6309298 + 0.4306766 = 1.0616063;
  //    ideal = 1/log2(2) + 1/log2(3) = 1 + 0.6309298 = 1.6309298 -> 0.6509209.
  close(t, ndcgAt(B.ranking, B.relevant, 10), 1.0616063116448506 / 1.6309297535714575, 'B');
  t.ok(Math.abs(ndcgAt(B.ranking, B.relevant, 10) - 0.6509209) < 1e-7);
  // B@3: only the hit at rank 2 counts: 0.6309298 / 1.6309298 = 0.3868528.
  t.ok(Math.abs(ndcgAt(B.ranking, B.relevant, 3) - 0.3868528) < 1e-7, 'B@3');
  t.equal(ndcgAt(C.ranking, C.relevant, 10), 0, 'C: nothing retrieved');
  t.equal(ndcgAt([3, 1], new Set([3]), 10), 1, 'perfect ranking');
  // Relevant at rank 11 is past nDCG@10.
  t.equal(ndcgAt([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], new Set([10]), 10), 0);
  t.equal(ndcgAt([1, 2], new Set(), 10), 0, 'no relevant document at all');
});

t.test('summarize: the table row is the mean over queries', async (t) => {
  const s = summarize([A.ranking, B.ranking, C.ranking], [A.relevant, B.relevant, C.relevant], {
    depth: 20,
    contexts: 3,
  });
  t.equal(s.queries, 3);
  close(t, s.hasRightInContexts, 2 / 3, 'hit@3: A (rank 3) and B (rank 2) -> (1 + 1 + 0) / 3');
  close(t, s.mrr, (1 / 3 + 1 / 2 + 0) / 3, 'MRR@20: (1/3 + 1/2 + 0) / 3 = 0.2777778');
  t.equal(s.hit1, 0, 'no query has its positive first');
  close(t, s.hit5, 2 / 3, 'hit@5');
  close(t, s.ndcg10, (0.5 + 0.6509209298071326 + 0) / 3, 'nDCG@10: (0.5 + 0.6509209 + 0) / 3 = 0.3836403');

  // depth 2 cuts every ranking first: A's hit at 3 is gone from MRR, hit@5 and nDCG alike.
  const cut = summarize([A.ranking, B.ranking, C.ranking], [A.relevant, B.relevant, C.relevant], {
    depth: 2,
    contexts: 1,
  });
  close(t, cut.mrr, 0.5 / 3, 'MRR@2: only B (1/2) -> 0.1666667');
  t.equal(cut.hasRightInContexts, 0, 'hit@1');
  close(t, cut.hit5, 1 / 3, 'hit@5 of a depth-2 ranking');
  close(t, cut.ndcg10, 0.6309297535714575 / 1.6309297535714575 / 3, 'nDCG of B cut at 2, over 3 queries');

  t.same(summarize([], [], { depth: 20, contexts: 3 }), {
    hasRightInContexts: 0,
    mrr: 0,
    hit1: 0,
    hit5: 0,
    ndcg10: 0,
    queries: 0,
  });
  t.throws(() => summarize([[1]], [], { depth: 20, contexts: 3 }), /1 rankings but 0/);
});
