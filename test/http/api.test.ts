// /rerank and /score behaviour, ops routes and every error case, against the real server.
import t from 'tap';
import { startServer } from '../helpers/server.ts';

const srv = await startServer({ maxPassages: 40, bodyLimit: 64 * 1024 });
t.teardown(() => srv.close());

const query = '한국의 수도는 어디인가요?';
const passages = [
  '서울은 대한민국의 수도이며 가장 큰 도시이다.',
  '김치는 배추와 고춧가루로 만드는 한국의 전통 음식이다.',
  '부산은 한국 남동부에 있는 항구 도시이다.',
  '오늘은 날씨가 맑고 따뜻하다.',
  '대한민국의 수도는 서울특별시이다.',
];

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

t.test('/rerank: sorted by logit, softmax sums to 1, indices map to the input', async (t) => {
  const res = await srv.post('/rerank', { query, passages });
  t.equal(res.status, 200);
  t.equal(res.body.model, srv.engine.model.name);
  const results = res.body.results as {
    index: number;
    logit: number;
    score: number;
    truncated: boolean;
    document?: string;
  }[];
  t.equal(results.length, passages.length);
  t.same(results.map((r) => r.index).sort(), [0, 1, 2, 3, 4], 'a permutation of the input');
  t.ok(
    [0, 4].includes(results[0]!.index),
    `a passage naming Seoul as the capital ranks first (got ${results[0]!.index})`,
  );
  for (let i = 1; i < results.length; i++) t.ok(results[i - 1]!.logit >= results[i]!.logit, 'sorted by logit');
  t.ok(Math.abs(sum(results.map((r) => r.score)) - 1) < 1e-9, 'softmax sums to 1');
  const max = results[0]!.logit;
  const z = sum(results.map((r) => Math.exp(r.logit - max)));
  for (const r of results) {
    t.ok(Math.abs(r.score - Math.exp(r.logit - max) / z) < 1e-9, 'score = softmax(logit)');
    t.equal(r.document, undefined, 'no document unless asked');
    t.equal(r.truncated, false);
  }
  // Each result's logit is the one of its own passage: score the pairs one by one.
  for (const r of results) {
    const one = await srv.post('/score', { pairs: [[query, passages[r.index]]] });
    t.ok(Math.abs(one.body.results[0].logit - r.logit) < 1e-4, `index ${r.index} maps to its passage`);
    t.equal(one.body.results[0].score, 1, 'softmax over one pair is 1');
  }
  const tokens = await srv.engine.encodePairs(passages.map((p) => [query, p] as const));
  t.equal(res.body.usage.tokens, sum(tokens.map((e) => e.ids.length)), 'usage counts the pair tokens');
  t.equal(res.headers.get('content-type')?.startsWith('application/json'), true);
  t.ok(res.headers.get('x-request-id'), 'request id header');
});

t.test('/rerank: top_n cuts after sorting; return_documents; documents (without model) is an alias', async (t) => {
  const full = (await srv.post('/rerank', { query, passages })).body;
  const top = await srv.post('/rerank', { query, passages, top_n: 2, return_documents: true });
  t.equal(top.status, 200);
  t.equal(top.body.results.length, 2);
  top.body.results.forEach((r: any, i: number) => {
    t.equal(r.index, full.results[i].index);
    t.equal(r.score, full.results[i].score, 'score is over all passages, not the top_n');
    t.equal(r.document, passages[r.index]);
  });
  t.equal(top.body.usage.tokens, full.usage.tokens);
  const many = await srv.post('/rerank', { query, passages, top_n: 99 });
  t.equal(many.body.results.length, passages.length, 'top_n larger than the list returns all');
  const alias = await srv.post('/rerank', { query, documents: passages, normalize: 'softmax' });
  t.equal(alias.status, 200);
  t.same(alias.body.results, full.results, 'documents is an alias of passages');
  const withModel = await srv.post('/rerank', { query, passages, model: 'anything' });
  t.same(withModel.body.results, full.results, 'model is accepted and ignored with passages');
});

t.test('/score: pairs', async (t) => {
  // The ko-reranker model card's two-pair example.
  const pairs = [
    ['나는 너를 싫어해', '나는 너를 사랑해'],
    ['나는 너를 좋아해', '너에 대한 나의 감정은 사랑 일 수도 있어'],
  ];
  const res = await srv.post('/score', { pairs });
  t.equal(res.status, 200);
  t.equal(res.body.results.length, 2);
  t.ok(res.body.results[0].logit >= res.body.results[1].logit);
  t.ok(Math.abs(res.body.results[0].score + res.body.results[1].score - 1) < 1e-9);
  t.same(res.body.results.map((r: any) => r.index).sort(), [0, 1]);
});

t.test('long passages are truncated, the query is kept', async (t) => {
  const long = '서울은 대한민국의 수도이다. '.repeat(400);
  const res = await srv.post('/rerank', { query, passages: [long, passages[0]] });
  t.equal(res.status, 200);
  const r = res.body.results.find((x: any) => x.index === 0);
  t.equal(r.truncated, true);
  const encoded = await srv.engine.encodePairs([[query, long]]);
  t.equal(encoded[0]!.ids.length, srv.engine.model.maxLen);
});

t.test(
  'pair texts are scored as given, a blank one too: one odd pair does not refuse a batch (a ranking query must not be blank)',
  async (t) => {
    const bodies: [string, unknown][] = [
      [
        '/score',
        {
          pairs: [
            ['a', 'b'],
            ['', 'b'],
            [' ', ''],
          ],
        },
      ],
      ['/v1/score', { text_1: ['a', ' '], text_2: ['b', 'b'] }],
      ['/predict', { inputs: [['', 'b']] }],
      ['/invocations', { inputs: [{ text: ' ', text_pair: 'b' }] }],
    ];
    for (const [path, body] of bodies) {
      const res = await srv.post(path, body);
      t.equal(res.status, 200, path);
    }
    const scored = await srv.post('/score', { pairs: [['', 'b']] });
    t.ok(Number.isFinite(scored.body.results[0].logit), 'a finite logit');
  },
);

const errorCases: {
  name: string;
  path: string;
  body: unknown;
  status: number;
  type: string;
  field?: RegExp;
  contentType?: string;
}[] = [
  { name: 'malformed JSON', path: '/rerank', body: '{"query": "a", "passages": [', status: 400, type: 'bad_request' },
  { name: 'empty JSON body', path: '/rerank', body: '', status: 400, type: 'bad_request' },
  { name: 'missing query', path: '/rerank', body: { passages }, status: 422, type: 'validation', field: /query/ },
  {
    name: 'empty query',
    path: '/rerank',
    body: { query: '', passages },
    status: 422,
    type: 'validation',
    field: /query/,
  },
  {
    name: 'blank query',
    path: '/rerank',
    body: { query: '   ', passages },
    status: 422,
    type: 'validation',
    field: /query/,
  },
  {
    name: 'query not a string',
    path: '/rerank',
    body: { query: 3, passages },
    status: 422,
    type: 'validation',
    field: /query/,
  },
  {
    name: 'empty passages',
    path: '/rerank',
    body: { query, passages: [] },
    status: 422,
    type: 'validation',
    field: /passages/,
  },
  {
    name: 'non-string passage',
    path: '/rerank',
    body: { query, passages: ['a', 2] },
    status: 422,
    type: 'validation',
    field: /passages\/1/,
  },
  { name: 'no passages at all', path: '/rerank', body: { query }, status: 422, type: 'validation', field: /passages/ },
  {
    name: 'two aliases',
    path: '/rerank',
    body: { query, passages, documents: passages },
    status: 422,
    type: 'validation',
    field: /exactly one of passages or documents, got passages and documents/,
  },
  {
    name: 'top_n 0',
    path: '/rerank',
    body: { query, passages, top_n: 0 },
    status: 422,
    type: 'validation',
    field: /top_n/,
  },
  {
    name: 'top_n as string',
    path: '/rerank',
    body: { query, passages, top_n: '2' },
    status: 422,
    type: 'validation',
    field: /top_n/,
  },
  {
    name: 'unknown field',
    path: '/rerank',
    body: { query, passages, topn: 2 },
    status: 422,
    type: 'validation',
    field: /topn/,
  },
  { name: 'body is an array', path: '/rerank', body: [query], status: 422, type: 'validation' },
  {
    name: 'too many passages',
    path: '/rerank',
    body: { query, passages: Array(41).fill('a') },
    status: 413,
    type: 'too_large',
    field: /passages.*MAX_PASSAGES/,
  },
  {
    name: 'body over BODY_LIMIT',
    path: '/rerank',
    body: { query, passages: ['가'.repeat(70 * 1024)] },
    status: 413,
    type: 'too_large',
  },
  {
    name: 'score: pair of three',
    path: '/score',
    body: { pairs: [['a', 'b', 'c']] },
    status: 422,
    type: 'validation',
    field: /pairs\/0/,
  },
  { name: 'score: empty pairs', path: '/score', body: { pairs: [] }, status: 422, type: 'validation', field: /pairs/ },
  { name: 'score: neither shape', path: '/score', body: {}, status: 422, type: 'validation', field: /pairs/ },
  {
    name: 'score: both shapes',
    path: '/score',
    body: { pairs: [['a', 'b']], text_1: 'a', text_2: ['b'] },
    status: 422,
    type: 'validation',
    field: /pairs.*vLLM/,
  },
  {
    name: 'score: text_2 missing',
    path: '/score',
    body: { text_1: 'a' },
    status: 422,
    type: 'validation',
    field: /text_2/,
  },
  {
    name: 'score: length mismatch',
    path: '/score',
    body: { text_1: ['a', 'b'], text_2: ['c', 'd', 'e'] },
    status: 422,
    type: 'validation',
    field: /text_1/,
  },
  {
    name: 'score: too many pairs',
    path: '/score',
    body: { text_1: 'a', text_2: Array(41).fill('b') },
    status: 413,
    type: 'too_large',
  },
  { name: 'unknown route', path: '/nope', body: {}, status: 404, type: 'not_found' },
];

for (const c of errorCases) {
  t.test(`error: ${c.name} -> ${c.status} ${c.type}`, async (t) => {
    const res = await srv.post(c.path, c.body);
    t.equal(res.status, c.status);
    t.same(Object.keys(res.body), ['error']);
    t.same(Object.keys(res.body.error).sort(), ['message', 'type']);
    t.equal(res.body.error.type, c.type);
    t.type(res.body.error.message, 'string');
    if (c.field) t.match(res.body.error.message, c.field, 'the message names the field');
    const after = await srv.post('/rerank', { query, passages: passages.slice(0, 2) });
    t.equal(after.status, 200, 'the server keeps serving');
  });
}

t.test('error: wrong content type -> 415; GET on a POST route -> 405 with Allow', async (t) => {
  const res = await fetch(srv.base + '/rerank', {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: 'hello',
  });
  t.equal(res.status, 415);
  t.equal(((await res.json()) as any).error.type, 'unsupported_media_type');
  const get = await srv.get('/rerank');
  t.equal(get.status, 405);
  t.equal(get.body.error.type, 'method_not_allowed');
  t.equal(get.headers.get('allow'), 'POST');
  const { request } = await import('node:http');
  const trace = await new Promise<{ status?: number; allow?: string }>((resolve, reject) =>
    request(
      srv.base + '/health',
      { method: 'TRACE' },
      (r) => (r.resume(), resolve({ status: r.statusCode, allow: r.headers.allow as string })),
    )
      .on('error', reject)
      .end(),
  );
  t.equal(trace.status, 405, 'TRACE on a known path');
  t.equal(trace.allow, 'GET, HEAD');
  t.equal((await srv.get('/nope')).status, 404, 'an unknown path is still 404');
});

t.test('ops routes: health, ready, info, metrics', async (t) => {
  t.same((await srv.get('/health')).body, { status: 'ok' });
  const ready = await srv.get('/ready');
  t.equal(ready.status, 200);
  t.same(ready.body, { status: 'ready' });
  const info = (await srv.get('/info')).body;
  t.equal(info.model, srv.engine.model.name);
  t.equal(info.max_len, srv.engine.model.maxLen);
  t.equal(info.provider, srv.config.device === 'cuda' ? 'cuda' : 'cpu');
  t.ok(info.onnx_inputs.includes('input_ids'));
  t.equal(
    info.batching.max_batch_tokens,
    srv.config.maxBatchTokens || (info.provider === 'cuda' ? 16384 : 2048),
    'the budget in effect',
  );
  t.equal(
    info.batching.max_batch_ms,
    info.provider === 'cuda' ? 0 : srv.config.maxBatchMs,
    'the time bound in effect (CPU only)',
  );
  t.ok(
    info.batching.batch_tokens_now >= Math.min(info.max_len, info.batching.max_batch_tokens) &&
      info.batching.batch_tokens_now <= info.batching.max_batch_tokens,
    `the budget now (${info.batching.batch_tokens_now}) lies between max_len and max_batch_tokens`,
  );
  t.match(info.versions.onnxruntime, /^1\.30/);
  const metrics = await srv.get('/metrics');
  t.equal(metrics.status, 200);
  t.match(metrics.headers.get('content-type'), /text\/plain/);
  for (const name of [
    'ko_rerank_requests_total{route="/rerank",method="POST",status="200"}',
    'ko_rerank_requests_total{route="/rerank",method="POST",status="422"}',
    'ko_rerank_request_duration_ms_bucket',
    'ko_rerank_tokenization_duration_ms_count',
    'ko_rerank_queue_duration_ms_count',
    'ko_rerank_inference_duration_ms_count',
    'ko_rerank_batch_size_count',
    'ko_rerank_batch_tokens_count',
    'ko_rerank_batch_padding_ratio_count',
    'ko_rerank_queue_size',
  ]) {
    t.ok(metrics.text.includes(name), name);
  }
  const active = (text: string) => Number(/^ko_rerank_event_loop_active_seconds_total (\S+)$/m.exec(text)?.[1]);
  const a0 = active(metrics.text);
  t.ok(a0 > 0, `event-loop active time ${a0} s`);
  await srv.post('/rerank', { query: '서울', passages: ['서울은 한국의 수도이다.', '부산'] });
  t.ok(active((await srv.get('/metrics')).text) > a0, 'grows as the loop works');
  const docs = await fetch(srv.base + '/docs');
  t.equal(docs.status, 200, 'Swagger UI at /docs');
});

t.test('the request id from x-request-id is echoed', async (t) => {
  const res = await fetch(srv.base + '/health', { headers: { 'x-request-id': 'abc-123' } });
  t.equal(res.headers.get('x-request-id'), 'abc-123');
});
