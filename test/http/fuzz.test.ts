// Fuzz: 12,000 generated malformed and edge-case requests (seeded, reproducible) across every route, 9,000 through
// fastify.inject and 3,000 over real HTTP with keep-alive. Never a 5xx, every error is the JSON error shape, and
// afterwards the server is alive and gives the same answer to a known request as before. Seed: FUZZ_SEED.
import t from 'tap';
import { startServer } from '../helpers/server.ts';
import { prng } from '../helpers/loopback.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261127);
const INJECTED = 9000;
const OVER_HTTP = 3000;

const srv = await startServer({ maxPassages: 40, maxPassageChars: 400, bodyLimit: 64 * 1024, maxQueuePairs: 100_000 });
t.teardown(() => srv.close());

const POST_ROUTES = ['/rerank', '/score', '/v1/score', '/v1/rerank', '/v2/rerank', '/invocations', '/predict'];
const GET_ROUTES = ['/health', '/ready', '/info', '/metrics', '/ping', '/openapi.json', '/docs', '/docs/json'];

const known = {
  query: '대한민국의 수도는?',
  passages: ['김치는 전통 음식이다.', '서울은 대한민국의 수도이다.', '부산은 항구 도시다.'],
};

function generator(seed: number) {
  const r = prng(seed);
  const WEIRD = [
    '',
    ' ',
    '\u0000',
    '\ud800',
    '\udfff\ud800',
    '😀',
    '\u202e\u200b\ufeff',
    '가'.repeat(401),
    'a'.repeat(399),
    '\\',
    '"',
    '</script>',
    '${x}',
    '%s%n',
    'null',
    '서울은 대한민국의 수도이다.',
    '\n\t\r',
    'ᄀᄀᄀ',
    '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  ];
  const scalar = (): unknown =>
    r.pick<() => unknown>([
      () => r.pick(WEIRD),
      () => r.int(2000) - 1000,
      () => r.next() * 1e6,
      () => r.pick([0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, 1e-300]),
      () => null,
      () => r.next() < 0.5,
      () => [],
      () => ({}),
      () => Array.from({ length: r.int(4) }, () => r.pick(WEIRD)),
      () => Array.from({ length: r.pick([0, 1, 41, 60]) }, (_, i) => `문단 ${i}`),
      () => ({ text: r.pick(WEIRD) }),
      () => [[r.pick(WEIRD), r.pick(WEIRD)]],
      () => ({ max_chunks_per_doc: r.pick([0, 1, 64, 65, -3, '2']), overlap_tokens: r.pick([0, 1000, -1, null]) }),
    ])();
  const FIELDS = [
    'query',
    'passages',
    'documents',
    'texts',
    'pairs',
    'text_1',
    'text_2',
    'inputs',
    'parameters',
    'top_n',
    'return_documents',
    'raw_scores',
    'return_text',
    'truncation_direction',
    'truncate_prompt_tokens',
    'use_activation',
    'priority',
    'relevant_spans',
    'normalize',
    'max_tokens_per_doc',
    'truncate',
    'chunking',
    'timeout_ms',
    'model',
    'rank_fields',
    'max_chunks_per_doc',
    '__proto__',
    'constructor',
    'extra',
  ];
  const valid = (path: string): Record<string, unknown> => {
    switch (path) {
      case '/score':
      case '/v1/score':
        return r.next() < 0.5
          ? {
              pairs: [
                ['질문', '답'],
                ['질문', '다른 답'],
              ],
            }
          : { model: 'x', text_1: '질문', text_2: ['답', '다른 답'] };
      case '/predict':
        return {
          inputs: [
            ['질문', '답'],
            ['질문', '다른 답'],
          ],
          raw_scores: r.next() < 0.5,
        };
      case '/v1/rerank':
      case '/v2/rerank':
        return { model: 'x', query: '질문', documents: ['가', { text: '나' }], top_n: 1 };
      case '/invocations':
        return r.next() < 0.5
          ? { inputs: [{ text: '질문', text_pair: '답' }], parameters: { function_to_apply: 'sigmoid' } }
          : { ...known };
      default:
        return r.next() < 0.3 ? { query: '질문', texts: ['가', '나'], raw_scores: false } : { ...known, top_n: 2 };
    }
  };
  const mutate = (body: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = { ...body };
    const n = 1 + r.int(3);
    for (let i = 0; i < n; i++) {
      const op = r.int(4);
      const key = r.pick(FIELDS);
      if (op === 0) delete out[r.pick(Object.keys(out).concat(key))];
      else if (op === 1) out[key] = scalar();
      else if (op === 2 && Object.keys(out).length > 0) out[r.pick(Object.keys(out))] = scalar();
      else if (op === 3) {
        // well-typed but extreme values
        const v = r.pick<[string, unknown]>([
          ['top_n', r.pick([1, 2, 1000, 2 ** 31])],
          ['normalize', r.pick(['softmax', 'sigmoid', 'none', 'SOFTMAX'])],
          ['truncate', r.pick([true, false])],
          ['max_tokens_per_doc', r.pick([1, 2, 511, 512, 100000])],
          ['timeout_ms', r.pick([1, 2, 1000, 100000, 2 ** 40])],
          ['chunking', { max_chunks_per_doc: r.pick([1, 2, 64]), overlap_tokens: r.pick([0, 8, 200]) }],
          ['query', r.pick(WEIRD)],
        ]);
        out[v[0]] = v[1];
      }
    }
    // A deadline of the client's own that passes is 504 deadline_exceeded (test/http/deadline.test.ts): the one 5xx
    // that is the client's outcome (check()).
    return out;
  };
  const deep = () => {
    const depth = r.pick([5, 31, 33, 200, 5000]);
    return r.next() < 0.5 ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  };
  const bytes = () => Buffer.from(Array.from({ length: r.int(200) }, () => r.int(256)));

  /** One request: method, url, headers, payload. */
  return (): {
    method: 'GET' | 'POST' | 'PUT' | 'DELETE';
    url: string;
    headers: Record<string, string>;
    payload?: string | Buffer;
  } => {
    const kind = r.int(20);
    const path = r.pick(POST_ROUTES);
    const json = { 'content-type': 'application/json' };
    if (kind === 0)
      return { method: 'GET', url: r.pick(GET_ROUTES) + r.pick(['', '?x=1', '?%zz', '#frag']), headers: {} };
    if (kind === 1)
      return {
        method: r.pick(['GET', 'PUT', 'DELETE'] as const),
        url: r.pick([...POST_ROUTES, '/nope', '/rerank/../score', '//rerank']),
        headers: {},
      };
    if (kind === 2)
      return { method: 'POST', url: r.pick(GET_ROUTES), headers: json, payload: JSON.stringify(valid(path)) };
    if (kind === 3) return { method: 'POST', url: path, headers: json, payload: bytes() };
    if (kind === 4) {
      const text = JSON.stringify(mutate(valid(path)));
      return { method: 'POST', url: path, headers: json, payload: text.slice(0, r.int(text.length)) };
    }
    if (kind === 5) return { method: 'POST', url: path, headers: json, payload: deep() };
    if (kind === 6) {
      const ct = r.pick([
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/xml',
        'application/json; charset=latin1',
        'APPLICATION/JSON',
        'application/jsonx',
        '',
      ]);
      return {
        method: 'POST',
        url: path,
        headers: ct ? { 'content-type': ct } : {},
        payload: JSON.stringify(valid(path)),
      };
    }
    if (kind === 7) {
      // valid JSON, wrong top-level type
      return {
        method: 'POST',
        url: path,
        headers: json,
        payload: JSON.stringify(r.pick([null, 1, 'x', [], [valid(path)], true])),
      };
    }
    if (kind === 8) {
      // raw escapes JSON.stringify would not write: lone surrogates, NUL, overlong numbers
      const s = r.pick(['\\ud800', '\\udc00x', '\\u0000', 'a\\ud83d', '\\uDBFF\\uDFFF']);
      const body = JSON.stringify(valid(path)).replace('"질문"', `"${s}"`).replace('"김치는 전통 음식이다."', `"${s}"`);
      return { method: 'POST', url: path, headers: json, payload: body };
    }
    if (kind === 9) {
      // invalid UTF-8 inside a string
      const text = JSON.stringify(valid(path));
      const at = text.indexOf('"', 5) + 1;
      return {
        method: 'POST',
        url: path,
        headers: json,
        payload: Buffer.concat([
          Buffer.from(text.slice(0, at)),
          Buffer.from([r.pick([0xff, 0xc0, 0xed, 0x80])]),
          Buffer.from(text.slice(at)),
        ]),
      };
    }
    if (kind === 10)
      return { method: 'POST', url: path, headers: json, payload: JSON.stringify(mutate(valid(r.pick(POST_ROUTES)))) };
    // most requests: a mutated body of the route's own shape
    return { method: 'POST', url: path, headers: json, payload: JSON.stringify(mutate(valid(path))) };
  };
}

interface Tally {
  statuses: Record<number, number>;
  problems: string[];
}

function check(
  tally: Tally,
  req: { method: string; url: string },
  status: number,
  contentType: string | undefined,
  body: string,
): void {
  tally.statuses[status] = (tally.statuses[status] ?? 0) + 1;
  // The request's own timeout_ms passing is 504 deadline_exceeded: the client's deadline, not a server fault.
  const ownDeadline = status === 504 && body.includes('"type":"deadline_exceeded"');
  if (status >= 500 && !ownDeadline)
    tally.problems.push(`${req.method} ${req.url} -> ${status}: ${body.slice(0, 300)}`);
  else if (status >= 400 && req.method === 'POST') {
    let err: any;
    try {
      err = JSON.parse(body).error;
    } catch {
      err = undefined;
    }
    if (
      !contentType?.includes('application/json') ||
      typeof err?.type !== 'string' ||
      typeof err?.message !== 'string' ||
      err.message === ''
    ) {
      tally.problems.push(`${req.method} ${req.url} -> ${status} without the error shape: ${body.slice(0, 200)}`);
    }
  }
}

const before = await srv.post('/rerank', known);

t.test(`${INJECTED} fuzzed requests through inject (seed ${SEED}): no 5xx, errors in the JSON shape`, async (t) => {
  const next = generator(SEED);
  const tally: Tally = { statuses: {}, problems: [] };
  for (let i = 0; i < INJECTED; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        const req = next();
        const res = await srv.app.inject({
          method: req.method,
          url: req.url,
          headers: req.headers,
          payload: req.payload,
        });
        check(tally, req, res.statusCode, res.headers['content-type'] as string | undefined, res.body);
      }),
    );
  }
  t.comment(`inject statuses: ${JSON.stringify(tally.statuses)}`);
  t.same(tally.problems.slice(0, 10), [], 'no 5xx and no malformed errors');
  t.equal(
    Object.values(tally.statuses).reduce((a, b) => a + b, 0),
    INJECTED,
  );
  t.ok((tally.statuses[200] ?? 0) > 100, 'some fuzzed requests were valid and scored');
  t.ok((tally.statuses[422] ?? 0) > 100 && (tally.statuses[400] ?? 0) > 100, 'and many were refused');
});

t.test(`${OVER_HTTP} fuzzed requests over HTTP with keep-alive: no 5xx`, async (t) => {
  const next = generator(SEED + 1);
  const tally: Tally = { statuses: {}, problems: [] };
  let left = OVER_HTTP;
  const worker = async () => {
    while (left-- > 0) {
      const req = next();
      const res = await fetch(srv.base + req.url, {
        method: req.method,
        headers: req.headers,
        body: req.payload as BodyInit | undefined,
      });
      check(tally, req, res.status, res.headers.get('content-type') ?? undefined, await res.text());
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  t.comment(`HTTP statuses: ${JSON.stringify(tally.statuses)}`);
  t.same(tally.problems.slice(0, 10), [], 'no 5xx and no malformed errors');
  t.equal(
    Object.values(tally.statuses).reduce((a, b) => a + b, 0),
    OVER_HTTP,
  );
});

t.test('afterwards: alive, ready, and the known request gets the same answer', async (t) => {
  t.equal((await srv.get('/health')).status, 200);
  t.equal((await srv.get('/ready')).status, 200);
  const after = await srv.post('/rerank', known);
  t.equal(after.status, 200);
  t.same(after.body, before.body);
  t.equal(after.body.results[0].index, 1);
  const m = (await srv.get('/metrics')).text;
  t.match(m, /ko_rerank_admitted_pairs 0\n/, 'nothing left admitted');
});
