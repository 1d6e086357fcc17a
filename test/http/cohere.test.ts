// Cohere v1/v2 and Jina shapes, the official cohere-ai SDK and LangChain's CohereRerank, against the real server.
import t from 'tap';
import { CohereClient, CohereClientV2 } from 'cohere-ai';
import { CohereRerank } from '@langchain/cohere';
import { Document } from '@langchain/core/documents';
import { createRequire } from 'node:module';
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
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const native = (await srv.post('/rerank', { query, passages: documents })).body;
const nativeOrder = native.results.map((r: any) => r.index);
const logitOf = (i: number) => native.results.find((r: any) => r.index === i).logit as number;

t.test('/v1/rerank: Cohere v1 + Jina shape, sigmoid scores, top_n after sorting, return_documents', async (t) => {
  const res = await srv.post('/v1/rerank', {
    model: 'rerank-v3.5',
    query,
    documents,
    top_n: 2,
    return_documents: true,
  });
  t.equal(res.status, 200);
  const b = res.body;
  t.match(b.id, UUID);
  t.equal(b.model, srv.engine.model.name);
  t.same(b.meta, { api_version: { version: '1' }, billed_units: { search_units: 1 } });
  t.same(b.usage, { prompt_tokens: native.usage.tokens, total_tokens: native.usage.tokens });
  t.same(
    b.results.map((r: any) => r.index),
    nativeOrder.slice(0, 2),
  );
  for (const r of b.results) {
    t.ok(Math.abs(r.relevance_score - sigmoid(logitOf(r.index))) < 1e-12, 'relevance_score = sigmoid(logit)');
    t.same(r.document, { text: documents[r.index] });
  }
  const plain = await srv.post('/v1/rerank', { query, documents });
  t.equal(plain.body.results.length, 3);
  for (const r of plain.body.results)
    t.same(r.document, { text: documents[r.index] }, 'documents by default, as Jina (return_documents omitted)');
  t.not(plain.body.id, b.id, 'a fresh id per response');
  const none = await srv.post('/v1/rerank', { query, documents, return_documents: false });
  t.same(Object.keys(none.body.results[0]).sort(), ['index', 'relevance_score'], 'return_documents false: none');
  const all = await srv.post('/v1/rerank', { query, documents, top_n: 0 });
  t.equal(all.body.results.length, 3, 'top_n 0 (vLLM): all');
});

t.test('/v1/rerank: {text} objects, other fields with rank_fields', async (t) => {
  const objs = documents.map((text, i) => ({ text, title: `문서 ${i}` }));
  const res = await srv.post('/v1/rerank', { query, documents: objs, return_documents: true });
  t.equal(res.status, 200);
  t.same(
    res.body.results.map((r: any) => r.index),
    nativeOrder,
    '{text} objects rank as their text',
  );
  t.same(res.body.results[0].document, objs[res.body.results[0].index], 'the document as sent');
  const fielded = documents.map((body, i) => ({ title: `제목 ${i}`, body }));
  const rf = await srv.post('/v1/rerank', { query, documents: fielded, rank_fields: ['title', 'body'] });
  t.equal(rf.status, 200);
  const joined = await srv.post('/rerank', { query, passages: fielded.map((d) => `${d.title}\n${d.body}`) });
  t.same(
    rf.body.results.map((r: any) => [r.index, r.relevance_score]),
    joined.body.results.map((r: any) => [r.index, sigmoid(r.logit)]),
    "rank_fields: the named fields' values joined by newlines",
  );
  const missing = await srv.post('/v1/rerank', { query, documents: fielded, rank_fields: ['title', 'author'] });
  t.equal(missing.status, 422);
  t.match(missing.body.error.message, /documents\/0 .*author/);
  const noText = await srv.post('/v1/rerank', { query, documents: fielded });
  t.equal(noText.status, 422);
  t.match(noText.body.error.message, /documents\/0 .*text/);
});

t.test('/v2/rerank: Cohere v2 shape, max_tokens_per_doc', async (t) => {
  const res = await srv.post('/v2/rerank', { model: 'rerank-v3.5', query, documents, top_n: 1 });
  t.equal(res.status, 200);
  t.same(
    Object.keys(res.body).sort(),
    ['id', 'meta', 'model', 'results', 'usage'],
    "Cohere v2's fields and vLLM's (model, usage)",
  );
  t.match(res.body.id, UUID);
  t.same(res.body.meta, { api_version: { version: '2' }, billed_units: { search_units: 1 } });
  t.same(
    res.body.usage,
    { prompt_tokens: native.usage.tokens, total_tokens: native.usage.tokens },
    'usage of all three documents',
  );
  t.same(res.body.results, [
    {
      index: nativeOrder[0],
      relevance_score: sigmoid(logitOf(nativeOrder[0])),
      document: { text: documents[nativeOrder[0]] },
    },
  ]);
  const spans = await srv.post('/v2/rerank', {
    model: 'm',
    query,
    documents,
    relevant_spans: { mode: 'disabled' },
    priority: 0,
  });
  t.equal(spans.status, 200, 'relevant_spans mode disabled (Cohere SDK 7.x) is accepted');
  const enabled = await srv.post('/v2/rerank', { model: 'm', query, documents, relevant_spans: { mode: 'enabled' } });
  t.equal(enabled.status, 422);
  t.match(enabled.body.error.message, /relevant_spans\/mode "enabled" is not supported: .*no relevant spans/);
  const capped = await srv.post('/v2/rerank', { model: 'm', query, documents, max_tokens_per_doc: 2 });
  const cappedNative = await srv.post('/rerank', { query, passages: documents, max_tokens_per_doc: 2 });
  t.same(
    capped.body.results.map((r: any) => [r.index, r.relevance_score]),
    cappedNative.body.results.map((r: any) => [r.index, sigmoid(r.logit)]),
    'max_tokens_per_doc cuts each document',
  );
  const cohereDefault = await srv.post('/v2/rerank', { model: 'm', query, documents, max_tokens_per_doc: 4096 });
  t.same(
    cohereDefault.body.results.map((r: any) => r.index),
    nativeOrder,
    "Cohere's default 4096 is clamped, not refused",
  );
  const long = '서울은 대한민국의 수도이다. '.repeat(200);
  const chunked = await srv.post('/v2/rerank', { model: 'm', query, documents: [long], max_chunks_per_doc: 4 });
  t.equal(chunked.status, 200, 'max_chunks_per_doc (extension) turns chunking on');
  const chunkedNative = await srv.post('/rerank', { query, passages: [long], chunking: { max_chunks_per_doc: 4 } });
  t.equal(chunked.body.results[0].relevance_score, sigmoid(chunkedNative.body.results[0].logit));
  t.ok(chunkedNative.body.results[0].chunks > 1);
});

const errors: [string, string, unknown, number, RegExp][] = [
  ['v2: no documents', '/v2/rerank', { model: 'm', query }, 422, /documents/],
  ['v2: empty documents', '/v2/rerank', { model: 'm', query, documents: [] }, 422, /documents/],
  ['v2: number document', '/v2/rerank', { model: 'm', query, documents: ['a', 5] }, 422, /documents\/1/],
  ['v2: blank query', '/v2/rerank', { model: 'm', query: ' ', documents }, 422, /query/],
  [
    'v2: return_documents is v1 only',
    '/v2/rerank',
    { model: 'm', query, documents, return_documents: true },
    422,
    /return_documents/,
  ],
  ['v1: top_n -1', '/v1/rerank', { query, documents, top_n: -1 }, 422, /top_n/],
  [
    'v2: relevant_spans unknown field',
    '/v2/rerank',
    { model: 'm', query, documents, relevant_spans: { mode: 'disabled', foo: 1 } },
    422,
    /relevant_spans.*foo/,
  ],
  ['v1: unknown field', '/v1/rerank', { query, documents, topn: 1 }, 422, /topn/],
];
for (const [name, path, body, status, field] of errors) {
  t.test(`error: ${name}`, async (t) => {
    const res = await srv.post(path, body);
    t.equal(res.status, status);
    t.equal(res.body.error.type, 'validation');
    t.match(res.body.error.message, field);
  });
}

t.test('cohere-ai CohereClientV2.rerank round trip', async (t) => {
  const client = new CohereClientV2({ token: 'any', environment: srv.base });
  const res = await client.rerank({ model: 'rerank-v3.5', query, documents, topN: 2 });
  t.match(res.id, UUID);
  t.same(
    res.results.map((r) => r.index),
    nativeOrder.slice(0, 2),
  );
  for (const r of res.results) t.ok(Math.abs(r.relevanceScore - sigmoid(logitOf(r.index))) < 1e-12);
  t.equal(res.meta?.apiVersion?.version, '2');
  t.equal(res.meta?.billedUnits?.searchUnits, 1);
  const capped = await client.rerank({ model: 'm', query, documents, maxTokensPerDoc: 4096 });
  t.equal(capped.results.length, 3);
});

t.test('cohere-ai CohereClient (v1).rerank round trip: strings, objects, rank_fields, returnDocuments', async (t) => {
  const client = new CohereClient({ token: 'any', environment: srv.base });
  const res = await client.rerank({ query, documents, topN: 3, returnDocuments: true });
  t.same(
    res.results.map((r) => r.index),
    nativeOrder,
  );
  for (const r of res.results) {
    t.equal(r.document?.text, documents[r.index]);
    t.ok(Math.abs(r.relevanceScore - sigmoid(logitOf(r.index))) < 1e-12);
  }
  t.equal(res.meta?.apiVersion?.version, '1');
  const objs = await client.rerank({ query, documents: documents.map((text) => ({ text })), topN: 1 });
  t.equal(objs.results[0]!.index, nativeOrder[0]);
  const fields = await client.rerank({
    query,
    documents: documents.map((body, i) => ({ title: `${i}`, body })),
    rankFields: ['body'],
  });
  t.same(
    fields.results.map((r) => r.index),
    nativeOrder,
    'rank_fields: [body] ranks as the text',
  );
  const chunked = await client.rerank({ query, documents, maxChunksPerDoc: 2 });
  t.equal(chunked.results.length, 3, 'maxChunksPerDoc is accepted');
});

t.test(
  "/v1/rerank return_documents omitted: Cohere's default (false) for Cohere clients, Jina's (true) for the rest",
  async (t) => {
    // The real SDK: it sends X-Fern-SDK-Name: cohere-ai and User-Agent cohere-ai/<version>, no return_documents.
    const client = new CohereClient({ token: 'any', environment: srv.base });
    const sdk = await client.rerank({ query, documents, topN: 3 });
    t.equal(sdk.results.length, 3);
    for (const r of sdk.results) t.equal(r.document, undefined, 'cohere-ai SDK without returnDocuments: no documents');
    const asked = await client.rerank({ query, documents, topN: 1, returnDocuments: true });
    t.equal(asked.results[0]!.document?.text, documents[asked.results[0]!.index], 'returnDocuments true: documents');
    const raw = async (headers: Record<string, string>, body: object) => {
      const res = await fetch(`${srv.base}/v1/rerank`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, documents, top_n: 2, ...body }),
      });
      t.equal(res.status, 200);
      return ((await res.json()) as { results: { document?: unknown }[] }).results.map((r) => r.document !== undefined);
    };
    t.same(await raw({ 'x-fern-sdk-name': 'cohere' }, {}), [false, false], "the Python SDK's X-Fern-SDK-Name: cohere");
    t.same(await raw({ 'user-agent': 'cohere/5.21.1' }, {}), [false, false], 'a cohere/* User-Agent');
    t.same(await raw({}, { model: 'rerank-v3.5' }), [false, false], 'a Cohere model name (rerank-*), raw HTTP');
    t.same(
      await raw({}, { model: 'jina-reranker-v2-base-multilingual' }),
      [true, true],
      "Jina's model: Jina's default",
    );
    t.same(await raw({}, {}), [true, true], 'nothing to tell them apart: Jina and vLLM default (true)');
    t.same(await raw({ 'user-agent': 'cohere-ai/8.1.0' }, { return_documents: true }), [true, true], 'explicit wins');
    t.same(await raw({}, { model: 'jina-reranker-m0', return_documents: false }), [false, false], 'explicit wins');
  },
);

t.test('@langchain/cohere CohereRerank with a client pointed at the server', async (t) => {
  // CohereRerank takes `client`: a CohereClient of the cohere-ai version it depends on (7.x), with our base URL.
  const { CohereClient: LangchainCohereClient } = createRequire(import.meta.resolve('@langchain/cohere'))(
    'cohere-ai',
  ) as typeof import('cohere-ai');
  const client = new LangchainCohereClient({ token: 'any', environment: srv.base });
  const reranker = new CohereRerank({
    model: 'rerank-v3.5',
    topN: 2,
    client: client as unknown as ConstructorParameters<typeof CohereRerank>[0] extends infer F
      ? F extends { client?: infer C }
        ? C
        : never
      : never,
  });
  const docs = documents.map((pageContent, i) => new Document({ pageContent, metadata: { i } }));
  const kept = await reranker.compressDocuments(docs, query);
  t.equal(kept.length, 2);
  t.same(
    kept.map((d) => d.metadata.i),
    nativeOrder.slice(0, 2),
  );
  t.ok(Math.abs(kept[0]!.metadata.relevanceScore - sigmoid(logitOf(nativeOrder[0]))) < 1e-12);
  const ranked = await reranker.rerank(documents, query, { topN: 3 });
  t.same(
    ranked.map((r) => r.index),
    nativeOrder,
  );
});
