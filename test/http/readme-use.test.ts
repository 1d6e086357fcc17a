// docs/api.md's "Use it from ..." curl examples for /v2/rerank, TEI's /rerank and /invocations, sent as written there.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { DEFAULT_MODEL_DIR, startServer } from '../helpers/server.ts';

// (they moved from README.md to docs/api.md with the rest of the dialect reference)
const readme = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('## Use it from ...'));
const srv = await startServer({ modelDir: DEFAULT_MODEL_DIR }); // what `npm start` serves
t.teardown(() => srv.close());

function exampleBody(route: string): any {
  const m = new RegExp(`curl -s localhost:8080${route} -H 'content-type: application/json' -d '([^\\n]*)'\\n`).exec(
    section,
  );
  if (!m) throw new Error(`no one-line curl example for ${route} in docs/api.md's Use it from section`);
  return JSON.parse(m[1]!);
}

t.test('README /v2/rerank example', async (t) => {
  const res = await srv.post('/v2/rerank', exampleBody('/v2/rerank'));
  t.equal(res.status, 200);
  t.equal(res.body.results.length, 1);
  t.equal(res.body.results[0].index, 1, 'the Seoul passage');
  t.match(
    section,
    new RegExp(`"relevance_score":${String(res.body.results[0].relevance_score).slice(0, 7)}`),
    'the README shows the real score',
  );
});

t.test('README TEI /rerank example', async (t) => {
  const res = await srv.post('/rerank', exampleBody('/rerank'));
  t.equal(res.status, 200);
  t.ok(Array.isArray(res.body), "TEI's bare array");
  t.equal(res.body[0].index, 1, 'the Seoul passage first');
  t.match(
    section,
    new RegExp(`\\[\\{"index":1,"score":${String(res.body[0].score).slice(0, 7)}`),
    'the README shows the real score',
  );
});

t.test('README /invocations example', async (t) => {
  const res = await srv.post('/invocations', exampleBody('/invocations'));
  t.equal(res.status, 200);
  t.equal(res.body.length, 2);
  for (const r of res.body)
    t.match(section, new RegExp(`"score":${String(r.score).slice(0, 7)}`), 'the README shows the real scores');
});
