// Input hardening: every hostile or malformed body is a 4xx JSON error naming the problem, checked before any
// tokenization where it can be, and the server keeps answering correctly after.
import t, { type Test } from 'tap';
import { startServer } from '../helpers/server.ts';
import { MAX_JSON_DEPTH, jsonDepth } from '../../src/http/body.ts';

const srv = await startServer({ maxPassageChars: 2000, bodyLimit: 64 * 1024, maxPassages: 50 });
t.teardown(() => srv.close());

const raw = async (path: string, body: string | Uint8Array, contentType = 'application/json') => {
  const res = await fetch(srv.base + path, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: body as BodyInit,
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, body: json, text };
};

const expectError = (
  t: Test,
  r: { status: number; body: any; text: string },
  status: number,
  type: string,
  message: RegExp,
) => {
  t.equal(r.status, status, `status ${status}: ${r.text.slice(0, 200)}`);
  t.equal(r.body?.error?.type, type);
  t.match(r.body?.error?.message, message);
};

t.test('invalid UTF-8 bytes are refused (400), not replaced with U+FFFD', async (t) => {
  const head = Buffer.from('{"query":"질문","passages":["');
  const tail = Buffer.from('"]}');
  for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80] /* an encoded surrogate */, [0xe2, 0x82]]) {
    const r = await raw('/rerank', Buffer.concat([head, Buffer.from(bad), tail]));
    expectError(t, r, 400, 'bad_request', /not valid UTF-8/);
  }
});

t.test('lone surrogates written as JSON escapes are refused (422) naming the field', async (t) => {
  let r = await raw('/rerank', '{"query":"질문","passages":["좋아","ab\\ud800cd"]}');
  expectError(t, r, 422, 'validation', /passages\/1 holds a lone UTF-16 surrogate at character 2/);
  r = await raw('/rerank', '{"query":"\\udc00","passages":["가"]}');
  expectError(t, r, 422, 'validation', /query holds a lone UTF-16 surrogate at character 0/);
  r = await raw('/score', '{"pairs":[["질문","가"],["\\ud83d","나"]]}');
  expectError(t, r, 422, 'validation', /pairs\/1 query holds a lone UTF-16 surrogate/);
  r = await raw('/v2/rerank', '{"model":"m","query":"q","documents":["\\udfff\\ud800"]}');
  expectError(t, r, 422, 'validation', /documents\/0 holds a lone UTF-16 surrogate/);
  // a proper pair (an emoji) is fine
  r = await raw('/rerank', '{"query":"질문","passages":["\\ud83d\\ude00 좋아"]}');
  t.equal(r.status, 200);
});

t.test('MAX_PASSAGE_CHARS: a longer passage or query is 413 naming it, before tokenization', async (t) => {
  let r = await srv.post('/rerank', { query: '질문', passages: ['짧다', '가'.repeat(2001)] });
  t.equal(r.status, 413);
  t.equal(r.body.error.type, 'too_large');
  t.match(r.body.error.message, /passages\/1 has 2001 characters, more than MAX_PASSAGE_CHARS=2000/);
  r = await srv.post('/rerank', { query: 'q'.repeat(2001), passages: ['a'] });
  t.equal(r.status, 413);
  t.match(r.body.error.message, /query has 2001 characters/);
  r = await srv.post('/invocations', { inputs: [{ text: 'q', text_pair: 'x'.repeat(5000) }] });
  t.equal(r.status, 413);
  t.match(r.body.error.message, /inputs\/0 has 5000 characters/);
  r = await srv.post('/rerank', { query: '질문', passages: ['가'.repeat(2000)] });
  t.equal(r.status, 200, 'exactly the limit is fine');
});

t.test('deeply nested JSON is refused (400) before it is parsed', async (t) => {
  for (const open of ['[', '{"a":']) {
    const close = open === '[' ? ']' : '}';
    const body = open.repeat(10000) + '1' + close.repeat(10000);
    const r = await raw('/rerank', body);
    expectError(t, r, 400, 'bad_request', new RegExp(`more than ${MAX_JSON_DEPTH} levels deep`));
  }
  // brackets inside strings do not count
  t.equal(jsonDepth(Buffer.from('{"a":"[[[[[[\\"[[["}')), 1);
  t.equal(jsonDepth(Buffer.from('[[1],[[2]]]')), 3);
  const r = await raw(
    '/rerank',
    JSON.stringify({ query: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[', passages: ['{'.repeat(100)] }),
  );
  t.equal(r.status, 200, 'brackets in strings are text');
});

t.test('huge bodies are 413; many passages 413; huge arrays of numbers 413', async (t) => {
  let r = await raw('/rerank', JSON.stringify({ query: 'q', passages: ['가'.repeat(70000)] }));
  expectError(t, r, 413, 'too_large', /Request body is too large/);
  const many = await srv.post('/rerank', { query: 'q', passages: Array(51).fill('a') });
  expectError(t, { ...many, text: JSON.stringify(many.body) }, 413, 'too_large', /MAX_PASSAGES=50/);
  r = await raw('/rerank', '[' + '1,'.repeat(40000) + '1]');
  expectError(t, r, 413, 'too_large', /too large/);
});

t.test('numbers, nulls, objects where strings belong are 422 naming the field (no coercion)', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['/rerank', { query: 1, passages: ['a'] }, /body\/query must be string/],
    ['/rerank', { query: 'q', passages: ['a', 2] }, /body\/passages\/1 must be string/],
    ['/rerank', { query: 'q', passages: [null] }, /body\/passages\/0 must be string/],
    ['/rerank', { query: 'q', passages: 'a' }, /body\/passages must be array/],
    ['/rerank', { query: 'q', passages: ['a'], top_n: '2' }, /body\/top_n must be integer/],
    ['/rerank', { query: 'q', passages: ['a'], timeout_ms: 0 }, /body\/timeout_ms must be >= 1/],
    ['/score', { pairs: [['q', 3]] }, /body\/pairs\/0\/1 must be string/],
    ['/v1/rerank', { query: 'q', documents: [5] }, /documents\/0/],
    ['/v2/rerank', { model: 'm', query: ['q'], documents: ['a'] }, /body\/query must be string/],
    ['/invocations', { inputs: [{ text: 'q', text_pair: 7 }] }, /body\/inputs\/0\/text_pair must be string/],
  ];
  for (const [path, body, message] of cases) {
    const r = await srv.post(path, body);
    expectError(t, { ...r, text: JSON.stringify(r.body) }, 422, 'validation', message);
  }
});

t.test('wrong content types are 415; invalid JSON and empty bodies 400', async (t) => {
  for (const ct of [
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/xml',
  ]) {
    const r = await raw('/rerank', '{"query":"q","passages":["a"]}', ct);
    expectError(
      t,
      r,
      415,
      'unsupported_media_type',
      new RegExp(`Unsupported Media Type: Content-Type "${ct}"; send application/json`, 'i'),
    );
  }
  expectError(t, await raw('/rerank', '{"query":'), 400, 'bad_request', /not valid JSON/);
  expectError(t, await raw('/rerank', ''), 400, 'bad_request', /empty/i);
  expectError(t, await raw('/rerank', '{"__proto__":{"x":1},"query":"q","passages":["a"]}'), 400, 'bad_request', /./);
});

t.test('after all of it the server still answers correctly', async (t) => {
  const r = await srv.post('/rerank', {
    query: '대한민국의 수도는?',
    passages: ['김치는 전통 음식이다.', '서울은 대한민국의 수도이다.'],
  });
  t.equal(r.status, 200);
  t.equal(r.body.results[0].index, 1);
});
