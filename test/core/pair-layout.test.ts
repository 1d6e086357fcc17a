// The pair layout read from tokenizer.json's post-processor, and the token type ids the batcher builds from it.
import t from 'tap';
import { readPairLayout, typeStartOf, UnsupportedTokenizerError } from '../../src/core/pair-layout.ts';
import { planPair } from '../../src/core/truncation.ts';
import { Batcher } from '../../src/core/batcher.ts';

const q = [100, 101, 102];
const p = [200, 201, 202, 203];

t.test('RobertaProcessing: <s> q </s></s> p </s>, every type id 0', async (t) => {
  const layout = readPairLayout({ post_processor: { type: 'RobertaProcessing', cls: ['<s>', 0], sep: ['</s>', 2] } });
  const plan = planPair(q, p, { maxLen: 64, queryMaxShare: 0.75, layout });
  t.same(plan.seqs[0], [0, ...q, 2, 2, ...p, 2]);
  t.equal(plan.typeStart, undefined);
});

t.test('BertProcessing: [CLS] q [SEP] p [SEP], type 1 from the passage on', async (t) => {
  const layout = readPairLayout({
    post_processor: { type: 'BertProcessing', cls: ['[CLS]', 101], sep: ['[SEP]', 102] },
  });
  const plan = planPair(q, p, { maxLen: 64, queryMaxShare: 0.75, layout });
  t.same(plan.seqs[0], [101, ...q, 102, ...p, 102]);
  t.equal(plan.typeStart, 5);
  const tb = Batcher.buildTensors([plan.seqs[0]!, [101, 7, 102, 8, 102]], 0, [plan.typeStart, 3]);
  t.same([...tb.typeIds!].map(Number), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
  t.same([...tb.mask].map(Number).slice(10), [1, 1, 1, 1, 1, 0, 0, 0, 0, 0], 'padding masked, type 0');
  // Three specials: a cut pair fills max_len exactly.
  const cut = planPair(
    q,
    Array.from({ length: 100 }, (_, i) => i + 300),
    { maxLen: 16, queryMaxShare: 0.75, layout },
  );
  t.equal(cut.seqs[0]!.length, 16);
  t.ok(cut.truncated);
  t.equal(cut.window, 16 - 3 - 3);
});

const bertTemplate = {
  type: 'TemplateProcessing',
  single: [],
  pair: [
    { SpecialToken: { id: '[CLS]', type_id: 0 } },
    { Sequence: { id: 'A', type_id: 0 } },
    { SpecialToken: { id: '[SEP]', type_id: 0 } },
    { Sequence: { id: 'B', type_id: 1 } },
    { SpecialToken: { id: '[SEP]', type_id: 1 } },
  ],
  special_tokens: { '[CLS]': { id: '[CLS]', ids: [2] }, '[SEP]': { id: '[SEP]', ids: [3] } },
};

t.test("TemplateProcessing: the pair template's specials and type ids", async (t) => {
  const layout = readPairLayout({ post_processor: bertTemplate });
  t.same(layout.prefix, [2]);
  t.same(layout.middle, [3]);
  t.same(layout.suffix, [3]);
  t.equal(typeStartOf(layout, 3), 5);
  const plan = planPair(q, p, {
    maxLen: 64,
    queryMaxShare: 0.75,
    layout,
    chunking: { maxChunksPerDoc: 4, overlapTokens: 0 },
  });
  t.equal(plan.typeStart, 5);
});

t.test('Sequence of ByteLevel and RobertaProcessing: the RobertaProcessing layout', async (t) => {
  const layout = readPairLayout({
    post_processor: {
      type: 'Sequence',
      processors: [{ type: 'ByteLevel' }, { type: 'RobertaProcessing', cls: ['<s>', 0], sep: ['</s>', 2] }],
    },
  });
  t.same([layout.prefix, layout.middle, layout.suffix], [[0], [2, 2], [2]]);
});

t.test('layouts the service cannot build exactly are refused with the reason', async (t) => {
  const refuse = (pp: unknown, re: RegExp) =>
    t.throws(() => readPairLayout({ post_processor: pp }), { name: UnsupportedTokenizerError.name, message: re });
  refuse(null, /no post_processor/);
  refuse({ type: 'ByteLevel' }, /"ByteLevel"; supported/);
  refuse({ type: 'Sequence', processors: [{ type: 'ByteLevel' }] }, /Sequence post_processor holds \[ByteLevel\]/);
  refuse({ ...bertTemplate, pair: bertTemplate.pair.slice(0, 2) }, /query \(A\) once, then the passage \(B\) once/);
  refuse(
    { ...bertTemplate, pair: [...bertTemplate.pair, { SpecialToken: { id: '[CLS]', type_id: 0 } }] },
    /type ids \[0, 0, 0, 1, 1, 0\] are not 0s then 1s/,
  );
  refuse({ ...bertTemplate, special_tokens: {} }, /special token "\[CLS\]" without ids/);
});

t.test('split-retry halves keep their rows of token type ids', async (t) => {
  const { sliceBatch } = await import('../../src/backend/split-retry.ts');
  const tb = Batcher.buildTensors(
    [
      [101, 7, 102, 8, 102],
      [101, 9, 102, 6, 5],
    ],
    0,
    [3, 4],
  );
  const second = sliceBatch(tb, 1, 1);
  t.same([...second.ids].map(Number), [101, 9, 102, 6, 5]);
  t.same([...second.typeIds!].map(Number), [0, 0, 0, 0, 1]);
  t.equal(second.padId, 0);
});
