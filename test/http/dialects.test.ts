// TEI's and vLLM's request and answer shapes, raw HTTP against the real server: exact field sets (a missing or
// renamed field fails), scores and order against the native /rerank answer, and the rule by which POST /rerank
// and POST /score tell the dialects apart.
import t from 'tap';
import { sigmoid } from '../../src/core/scores.ts';
import { startServer } from '../helpers/server.ts';

const srv = await startServer();
t.teardown(() => srv.close());

const query = '대한민국의 수도는 어디인가요?';
const documents = [
  '부산은 대한민국 남동부에 있는 항구 도시이다.',
  '서울은 대한민국의 수도이자 최대 도시이다.',
  '김치는 배추와 고춧가루로 만드는 한국의 전통 음식이다.',
];
const native = (await srv.post('/rerank', { query, passages: documents })).body;
const nativeOrder: number[] = native.results.map((r: any) => r.index);
const logitOf = (i: number) => native.results.find((r: any) => r.index === i).logit as number;
const keys = (o: object) => Object.keys(o).sort();
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

t.test('the native order puts the Seoul passage first', async (t) => {
  t.equal(nativeOrder[0], 1);
});

t.test('TEI POST /rerank {query, texts, raw_scores, ...}: bare array sorted by score', async (t) => {
  // What haystack's HuggingFaceTEIRanker sends (with a truncation_direction).
  const res = await srv.post('/rerank', {
    query,
    texts: documents,
    raw_scores: false,
    truncate: true,
    truncation_direction: 'Right',
  });
  t.equal(res.status, 200);
  t.ok(Array.isArray(res.body), 'a bare JSON array');
  t.same(
    res.body.map((r: any) => r.index),
    nativeOrder,
  );
  for (const r of res.body) {
    t.same(keys(r), ['index', 'score']);
    t.equal(r.score, sigmoid(logitOf(r.index)), 'score = sigmoid(logit)');
  }
  const raw = await srv.post('/rerank', { query, texts: documents, raw_scores: true, return_text: true });
  t.same(
    raw.body.map((r: any) => [r.index, r.score, r.text]),
    nativeOrder.map((i) => [i, logitOf(i), documents[i]]),
    'raw_scores: the logit; return_text: the text',
  );
  const minimal = await srv.post('/rerank', { query, texts: documents });
  t.same(minimal.body, res.body, '{query, texts} alone is TEI too');
  const lower = await srv.post('/rerank', { query, texts: documents, truncation_direction: 'right', truncate: null });
  t.equal(lower.status, 200);
  const left = await srv.post('/rerank', { query, texts: documents, truncation_direction: 'Left' });
  t.equal(left.status, 422);
  t.match(left.body.error.message, /truncation_direction "Left" is not supported: .*cut at its end \(Right\)/);
  const strict = await srv.post('/rerank', { query, texts: [documents[0], '가 '.repeat(1000)], truncate: false });
  t.equal(strict.status, 422);
  t.match(strict.body.error.message, /texts at index 1/);
});

t.test('TEI POST /predict: one pair -> [{score, label}], a batch -> [[{score, label}]] in input order', async (t) => {
  const one = await srv.post('/predict', { inputs: [query, documents[1]] });
  t.equal(one.status, 200);
  t.same(one.body, [{ score: sigmoid(logitOf(1)), label: 'LABEL_0' }]);
  const batch = await srv.post('/predict', {
    inputs: documents.map((d) => [query, d]),
    raw_scores: true,
    truncate: true,
  });
  t.same(
    batch.body,
    documents.map((_, i) => [{ score: logitOf(i), label: 'LABEL_0' }]),
    'raw logits in input order',
  );
  const single: [unknown, RegExp][] = [
    [
      'a single text',
      /body\/inputs must be one \[query, passage\] pair or a list of them: a single text is not scored/,
    ],
    [['only one'], /body\/inputs is a single text/],
    [[['q', 'p'], ['only one']], /body\/inputs\/1 is a single text/],
    [[['a', 'b', 'c']], /body\/inputs\/0 must be one \[query, passage\] pair/],
  ];
  for (const [inputs, where] of single) {
    const res = await srv.post('/predict', { inputs });
    t.equal(res.status, 422);
    t.match(res.body.error.message, where);
  }
});

t.test('vLLM POST /score and /v1/score {text_1, text_2}: vLLM ScoreResponse in input order', async (t) => {
  for (const path of ['/score', '/v1/score']) {
    const res = await srv.post(path, { model: 'ko-reranker', text_1: query, text_2: documents });
    t.equal(res.status, 200, path);
    const b = res.body;
    t.same(keys(b), ['created', 'data', 'id', 'model', 'object', 'usage']);
    t.match(b.id, new RegExp(`^score-${UUID}$`));
    t.equal(b.object, 'list');
    t.ok(Number.isInteger(b.created) && Math.abs(b.created - Date.now() / 1000) < 60, 'created: unix seconds');
    t.equal(b.model, srv.engine.model.name);
    t.same(b.usage, { prompt_tokens: native.usage.tokens, total_tokens: native.usage.tokens, completion_tokens: 0 });
    t.same(
      b.data,
      documents.map((_, i) => ({ index: i, object: 'score', score: sigmoid(logitOf(i)) })),
      'input order, sigmoid(logit)',
    );
  }
  const listOfOne = await srv.post('/score', { text_1: [query], text_2: documents });
  const nToN = await srv.post('/score', { text_1: documents.map(() => query), text_2: documents });
  t.same(listOfOne.body.data, nToN.body.data, '1:N and N:N');
  const raw = await srv.post('/score', {
    text_1: query,
    text_2: documents,
    use_activation: false,
    truncate_prompt_tokens: -1,
    priority: 0,
    user: 'u',
  });
  t.same(
    raw.body.data.map((d: any) => d.score),
    documents.map((_, i) => logitOf(i)),
    'use_activation false: the logit',
  );
});

t.test('vLLM POST /rerank {model, query, documents, top_n}: vLLM RerankResponse', async (t) => {
  for (const path of ['/rerank', '/v1/rerank', '/v2/rerank']) {
    const res = await srv.post(path, { model: 'ko-reranker', query, documents, top_n: 2 });
    t.equal(res.status, 200, path);
    const b = res.body;
    for (const k of ['id', 'model', 'usage', 'results']) t.ok(k in b, `${path}: ${k}`);
    if (path === '/rerank') t.same(keys(b), ['id', 'model', 'results', 'usage'], 'exactly vLLM');
    t.equal(b.model, srv.engine.model.name);
    t.same(b.usage, { prompt_tokens: native.usage.tokens, total_tokens: native.usage.tokens });
    t.same(
      b.results,
      nativeOrder
        .slice(0, 2)
        .map((i) => ({ index: i, document: { text: documents[i] }, relevance_score: sigmoid(logitOf(i)) })),
      `${path}: [{index, document: {text}, relevance_score}] sorted`,
    );
    for (const r of b.results) t.same(keys(r), ['document', 'index', 'relevance_score']);
    const all = await srv.post(path, { model: 'm', query, documents, top_n: 0 });
    t.equal(all.body.results.length, 3, `${path}: top_n 0 = all`);
    const raw = await srv.post(path, { model: 'm', query, documents, use_activation: false });
    t.same(
      raw.body.results.map((r: any) => r.relevance_score),
      nativeOrder.map(logitOf),
      `${path}: use_activation false`,
    );
    const cut = await srv.post(path, { model: 'm', query, documents, truncate_prompt_tokens: 128 });
    t.equal(cut.status, 422, `${path}: truncate_prompt_tokens 128 refused`);
    t.match(cut.body.error.message, /truncate_prompt_tokens 128 is not supported: .*send -1 or omit it/);
    const ok = await srv.post(path, {
      model: 'm',
      query,
      documents,
      truncate_prompt_tokens: -1,
      priority: 5,
      user: 'me',
    });
    t.equal(ok.status, 200, `${path}: truncate_prompt_tokens -1, priority and user accepted`);
  }
  const rerankId = (await srv.post('/rerank', { model: 'm', query, documents })).body.id;
  t.match(rerankId, new RegExp(`^rerank-${UUID}$`));
});

t.test('the POST /rerank rule: texts -> TEI; documents + model -> vLLM; else native', async (t) => {
  const isNative = (b: any) => t.same(keys(b), ['model', 'results', 'usage']) && t.ok('logit' in b.results[0]);
  isNative((await srv.post('/rerank', { query, passages: documents })).body);
  isNative((await srv.post('/rerank', { query, passages: documents, model: 'm' })).body);
  isNative((await srv.post('/rerank', { query, documents })).body);
  t.ok(Array.isArray((await srv.post('/rerank', { query, texts: documents })).body), 'texts: TEI');
  t.ok(
    'relevance_score' in (await srv.post('/rerank', { query, documents, model: 'm' })).body.results[0],
    'documents + model: vLLM',
  );
  const cases: [string, unknown, RegExp][] = [
    [
      'native field in a vLLM body',
      { query, documents, model: 'm', normalize: 'sigmoid' },
      /additional properties: normalize \(read as vLLM's body because it has documents and model; send passages/,
    ],
    [
      'native field in a TEI body',
      { query, texts: documents, top_n: 1 },
      /additional properties: top_n \(read as TEI's body because it has texts\)/,
    ],
    [
      'passages and texts',
      { query, passages: documents, texts: documents },
      /additional properties: passages \(read as TEI's/,
    ],
    [
      'TEI field in a native body',
      { query, passages: documents, raw_scores: true },
      /additional properties: raw_scores \(read as the native body/,
    ],
    ['vLLM body without query', { documents, model: 'm' }, /'query' \(read as vLLM's/],
  ];
  for (const [name, body, message] of cases) {
    const res = await srv.post('/rerank', body);
    t.equal(res.status, 422, name);
    t.match(res.body.error.message, message, name);
  }
});

t.test('the POST /score rule: text_1 or text_2 -> vLLM; else native (pairs)', async (t) => {
  const nat = await srv.post('/score', { pairs: [[query, documents[1]]] });
  t.same(keys(nat.body), ['model', 'results', 'usage']);
  const cases: [unknown, RegExp][] = [
    [
      { text_1: query, text_2: documents, normalize: 'none' },
      /additional properties: normalize \(read as vLLM's body because it has text_1 or text_2; send pairs/,
    ],
    [{ text_1: query }, /'text_2' \(read as vLLM's/],
    [{ pairs: [[query, 'a']], text_1: query, text_2: ['a'] }, /additional properties: pairs \(read as vLLM's/],
    [{ text_1: ['a', 'b'], text_2: ['c', 'd', 'e'] }, /text_1 has 2 items and body\/text_2 3/],
    [{}, /'pairs' \(read as the native body/],
  ];
  for (const [body, message] of cases) {
    const res = await srv.post('/score', body);
    t.equal(res.status, 422, JSON.stringify(body));
    t.match(res.body.error.message, message);
  }
});
