// Score modes, truncation control and long-passage chunking on the native routes, against the real server.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { buildApp } from '../../src/app.ts';
import { createEngine } from '../../src/compose.ts';
import { sigmoid } from '../../src/core/scores.ts';
import { BM25 } from '../../src/eval/bm25.ts';
import { loadTokenizer } from '../../src/core/tokenizer.ts';
import type { Backend, BackendResult, TensorBatch } from '../../src/backend/contract.ts';
import { startServer, testConfig } from '../helpers/server.ts';

const srv = await startServer({ maxChunkedPairs: 50 });
t.teardown(() => srv.close());

const query = '대한민국의 수도는 어디인가요?';
const passages = [
  '부산은 대한민국 남동부에 있는 항구 도시이다.',
  '서울은 대한민국의 수도이자 최대 도시이다.',
  '김치는 배추와 고춧가루로 만드는 한국의 전통 음식이다.',
];

t.test('normalize: softmax (default), sigmoid, none; same order and logits in every mode', async (t) => {
  const soft = (await srv.post('/rerank', { query, passages })).body;
  const softAsked = (await srv.post('/rerank', { query, passages, normalize: 'softmax' })).body;
  t.same(softAsked, soft, 'softmax is the default');
  const sig = await srv.post('/rerank', { query, passages, normalize: 'sigmoid' });
  const none = await srv.post('/rerank', { query, passages, normalize: 'none' });
  t.equal(sig.status, 200);
  t.equal(none.status, 200);
  for (const [i, r] of soft.results.entries()) {
    t.equal(sig.body.results[i].index, r.index);
    t.equal(sig.body.results[i].logit, r.logit);
    t.equal(none.body.results[i].logit, r.logit);
    t.ok(Math.abs(sig.body.results[i].score - sigmoid(r.logit)) < 1e-12, 'sigmoid(logit)');
    t.equal(none.body.results[i].score, r.logit, 'none: the logit');
  }
  const pairs = passages.map((p) => [query, p]);
  const score = await srv.post('/score', { pairs, normalize: 'sigmoid' });
  t.same(
    score.body.results.map((r: any) => [r.index, r.score]),
    sig.body.results.map((r: any) => [r.index, r.score]),
    '/score takes normalize too',
  );
  const bad = await srv.post('/rerank', { query, passages, normalize: 'tanh' });
  t.equal(bad.status, 422);
  t.match(bad.body.error.message, /normalize.*softmax \| sigmoid \| none/);
});

t.test('truncation: max_tokens_per_doc, truncate:false lists the indexes, truncated flag', async (t) => {
  const long = '서울은 대한민국의 수도이다. '.repeat(120);
  const docs = [passages[1], long, passages[0], long + '!'];
  const res = await srv.post('/rerank', { query, passages: docs });
  const flags = Object.fromEntries(res.body.results.map((r: any) => [r.index, r.truncated]));
  t.same(flags, { 0: false, 1: true, 2: false, 3: true });
  const strict = await srv.post('/rerank', { query, passages: docs, truncate: false });
  t.equal(strict.status, 422);
  t.equal(strict.body.error.type, 'validation');
  t.match(strict.body.error.message, /truncate is false and passages at index 1, 3 do not fit/);
  const fits = await srv.post('/rerank', { query, passages: [passages[1], passages[0]], truncate: false });
  t.equal(fits.status, 200, 'truncate:false is fine when everything fits');

  const full = (await srv.post('/rerank', { query, passages: [passages[1]] })).body;
  const cut = (await srv.post('/rerank', { query, passages: [passages[1]], max_tokens_per_doc: 3 })).body;
  t.equal(cut.results[0].truncated, true, 'cut to 3 tokens');
  t.ok(cut.usage.tokens < full.usage.tokens);
  const [queryOnly] = await srv.engine.encodePairs([[query, '']]);
  t.ok(full.usage.tokens - queryOnly!.ids.length > 3, 'the passage has more than 3 tokens');
  t.equal(cut.usage.tokens, queryOnly!.ids.length + 3, 'exactly 3 passage tokens were fed');
  const strictCap = await srv.post('/rerank', {
    query,
    passages: [passages[1]],
    max_tokens_per_doc: 3,
    truncate: false,
  });
  t.equal(strictCap.status, 422, 'truncate:false also refuses a cut by max_tokens_per_doc');
  const roomy = (await srv.post('/rerank', { query, passages: [long], max_tokens_per_doc: 100000 })).body;
  t.equal(roomy.results[0].truncated, true, 'max_tokens_per_doc is clamped to max_len');
  t.equal(roomy.usage.tokens, srv.engine.model.maxLen);
  const zero = await srv.post('/rerank', { query, passages, max_tokens_per_doc: 0 });
  t.equal(zero.status, 422);
  t.match(zero.body.error.message, /max_tokens_per_doc/);
  const longQuery = '서울 '.repeat(500);
  t.equal((await srv.post('/rerank', { query: longQuery, passages })).status, 200, 'a long query is cut by default');
  const strictQuery = await srv.post('/rerank', { query: longQuery, passages, truncate: false });
  t.equal(strictQuery.status, 422);
  t.match(strictQuery.body.error.message, /truncate is false and the query has more than 384 tokens/);
  const strictPairQuery = await srv.post('/score', {
    pairs: [
      [query, 'a'],
      [longQuery, 'b'],
    ],
    truncate: false,
  });
  t.match(strictPairQuery.body.error.message, /the query of pairs\/1 has more than/);
  const pairs = await srv.post('/score', { pairs: [[query, long]], truncate: false });
  t.equal(pairs.status, 422, '/score too');
  t.match(pairs.body.error.message, /pairs at index 0/);
});

// A long passage: irrelevant MS MARCO-ko passages, then the query's relevant passage at the very end.
const rows = (f: string) =>
  readFileSync(new URL(`../../data/msmarco-ko/${f}`, import.meta.url), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { id: number; query: string; pos: string[] });
const corpus = [...new Set(rows('msmarco-ko.jsonl').flatMap((r) => r.pos))];
const devQuery = rows('dev.jsonl')[0]!; // a query the embedded model was not trained on

t.test(
  'chunking: a passage whose relevant part lies past the 512-token cut ranks first only with chunking',
  async (t) => {
    const q = devQuery.query;
    const relevant = devQuery.pos[0]!;
    // Negatives: BM25's top passages for the query that the model scores highest (the hardest ones).
    const bm25 = new BM25(corpus);
    const candidates = bm25
      .top(q, 30)
      .map((i) => corpus[i]!)
      .filter((p) => !devQuery.pos.includes(p));
    const scored = (await srv.post('/rerank', { query: q, passages: [relevant, ...candidates] })).body;
    t.equal(scored.results[0].index, 0, 'precondition: alone, the relevant passage beats the negatives');
    const negatives = scored.results.slice(1, 6).map((r: any) => [relevant, ...candidates][r.index]);
    const filler: string[] = [];
    for (let j = 0, len = 0; len < 1800; j++) {
      const p = corpus[(devQuery.id * 7 + 101 + j * 13) % corpus.length]!;
      if (devQuery.pos.includes(p)) continue;
      filler.push(p);
      len += p.length;
    }
    const long = `${filler.join(' ')} ${relevant}`;
    const [fillerOnly] = await srv.engine.encodePairs([[q, filler.join(' ')]]);
    t.equal(
      fillerOnly!.truncated,
      true,
      'the filler alone already fills the 512-token window: the relevant part is past the cut',
    );
    const [cutPair] = await srv.engine.encodePairs([[q, long]]);
    t.equal(cutPair!.ids.length, srv.engine.model.maxLen);

    const docs = [...negatives.slice(0, 2), long, ...negatives.slice(2)];
    const longIndex = 2;
    const truncated = (await srv.post('/rerank', { query: q, passages: docs })).body;
    const truncRank = truncated.results.findIndex((r: any) => r.index === longIndex);
    t.ok(truncRank > 0, `truncation alone: the long passage ranks ${truncRank + 1}`);
    t.equal(truncated.results[truncRank].truncated, true);
    t.equal(truncated.results[truncRank].chunks, 1);

    // Token layout: where the relevant passage starts inside the long one, and the window size that fits the query.
    const tokenizer = await loadTokenizer(srv.engine.model.dir);
    const [qIds, longIds, relIds] = await tokenizer.encodeMany([q, long, relevant]);
    const window = srv.engine.model.maxLen - 4 - qIds!.length;
    const total = longIds!.length;
    const relevantTokens = relIds!.length;
    t.ok(
      total - relevantTokens > window,
      `the relevant passage starts past the cut (token ${total - relevantTokens}, window ${window})`,
    );
    const winsOn = (chunk: number, win: number, overlap: number) =>
      chunk * (win - overlap) + win > total - relevantTokens;

    // Whole windows (the default): the last window holds the relevant passage.
    const chunked = await srv.post('/rerank', { query: q, passages: docs, chunking: {} });
    t.equal(chunked.status, 200);
    const top = chunked.body.results[0];
    t.equal(top.index, longIndex, 'with chunking the long passage ranks first');
    t.equal(top.chunks, Math.ceil((total - window) / (window - 32)) + 1, 'windows of the full size, 32 tokens overlap');
    t.ok(winsOn(top.best_chunk, window, 32), `the winning window (${top.best_chunk}) holds the relevant passage`);
    t.equal(top.truncated, false, 'every token was scored');
    t.ok(top.logit > truncated.results[truncRank].logit);
    t.ok(chunked.body.usage.tokens > truncated.usage.tokens, 'usage counts every window');
    for (const r of chunked.body.results)
      t.equal(r.best_chunk === undefined, r.chunks === 1, 'best_chunk only on chunked passages');

    // Windows the size of the embedded model's training passages (about 100 tokens) rank it first too.
    const small = (
      await srv.post('/rerank', {
        query: q,
        passages: docs,
        max_tokens_per_doc: 128,
        chunking: { max_chunks_per_doc: 16 },
      })
    ).body;
    t.equal(small.results[0].index, longIndex);
    t.ok(winsOn(small.results[0].best_chunk, 128, 32), 'the winning 128-token window holds the relevant passage');

    const tooMany = await srv.post('/rerank', {
      query: q,
      passages: ['.', '!', '?', '~', ','].map((c) => long + c),
      max_tokens_per_doc: 128,
      chunking: { max_chunks_per_doc: 20 },
    });
    t.equal(tooMany.status, 413, 'past MAX_CHUNKED_PAIRS (50 here)');
    t.equal(tooMany.body.error.type, 'too_large');
    t.match(tooMany.body.error.message, /MAX_CHUNKED_PAIRS=50/);
    const limited = await srv.post('/rerank', {
      query: q,
      passages: [long],
      max_tokens_per_doc: 128,
      chunking: { max_chunks_per_doc: 2 },
    });
    t.equal(limited.body.results[0].chunks, 2);
    t.equal(limited.body.results[0].truncated, true, 'past the last chunk: truncated');
    const strict = await srv.post('/rerank', {
      query: q,
      passages: [long],
      max_tokens_per_doc: 128,
      chunking: { max_chunks_per_doc: 2 },
      truncate: false,
    });
    t.equal(strict.status, 422);
    t.match(strict.body.error.message, /in 2 chunks/);
    const badChunking = await srv.post('/rerank', { query: q, passages: [long], chunking: { max_chunks: 2 } });
    t.equal(badChunking.status, 422);
    t.match(badChunking.body.error.message, /chunking.*max_chunks/);
  },
);

class FixedBackend implements Backend {
  readonly slots = 1;
  constructor(private readonly values: number[]) {}
  async run(b: TensorBatch): Promise<BackendResult> {
    // One logit per row, taken from the row's first passage token (a stand-in for the passage identity).
    const logits = new Float32Array(b.rows);
    for (let r = 0; r < b.rows; r++) logits[r] = this.values[r % this.values.length]!;
    return { logits, inferenceMs: 0 };
  }
  async close() {}
}

t.test('sorting is on the fp32 logits: sigmoid saturation makes no false ties', async (t) => {
  const config = testConfig();
  const engine = createEngine(config, { backend: new FixedBackend([40, 41, 40]) });
  // Same-length passages form one micro-batch in input order: logits 40, 41, 40.
  await engine.start();
  const app = await buildApp(config, engine);
  t.teardown(() => app.close());
  const res = await app.inject({
    method: 'POST',
    url: '/rerank',
    payload: { query: '질문', passages: ['가', '나', '다'], normalize: 'sigmoid' },
  });
  const results = res.json().results;
  t.same(
    results.map((r: any) => r.score),
    [1, 1, 1],
    'sigmoid saturates to 1.0 for all three',
  );
  t.same(
    results.map((r: any) => r.index),
    [1, 0, 2],
    'the larger logit first, then ties by index',
  );
});

t.test(
  'a NaN logit fails the request with a backend error in every mode and on every shape (never a null score)',
  async (t) => {
    const config = testConfig();
    const engine = createEngine(config, { backend: new FixedBackend([NaN, 1, 2]) });
    await engine.start();
    const app = await buildApp(config, engine);
    t.teardown(() => app.close());
    const requests = [
      ...['softmax', 'sigmoid', 'none'].map((normalize) => ({
        url: '/rerank',
        payload: { query: '질문', passages: ['가', '나', '다'], normalize },
      })),
      {
        url: '/score',
        payload: {
          pairs: [
            ['질문', '가'],
            ['질문', '나'],
            ['질문', '다'],
          ],
        },
      },
      { url: '/v1/rerank', payload: { model: 'm', query: '질문', documents: ['가', '나', '다'] } },
      { url: '/v2/rerank', payload: { model: 'm', query: '질문', documents: ['가', '나', '다'] } },
      { url: '/invocations', payload: { inputs: ['가', '나', '다'].map((p) => ({ text: '질문', text_pair: p })) } },
    ];
    for (const { url, payload } of requests) {
      const res = await app.inject({ method: 'POST', url, payload });
      t.equal(res.statusCode, 500, `${url} ${JSON.stringify(payload).slice(0, 60)}`);
      t.equal(res.json().error.type, 'backend', url);
      t.match(res.json().error.message, /non-finite logit for \w+ at index 0/, url);
    }
  },
);
