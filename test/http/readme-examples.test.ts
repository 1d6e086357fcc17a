// The README's curl examples, sent as written there, against the embedded model.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { DEFAULT_MODEL_DIR, startServer } from '../helpers/server.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const srv = await startServer({ modelDir: DEFAULT_MODEL_DIR }); // what `npm start` serves
t.teardown(() => srv.close());

/** The JSON body of the README's `curl ... localhost:8080<route> ... -d '...'` example. */
function exampleBody(route: string): any {
  const m = new RegExp(`curl -s localhost:8080${route} [^\\n]*-d '([\\s\\S]*?)'\\n`).exec(readme);
  if (!m) throw new Error(`no curl example for ${route} in README.md`);
  return JSON.parse(m[1]!);
}

t.test('README /rerank example: the relevant passage ranks first', async (t) => {
  const body = exampleBody('/rerank');
  const res = await srv.post('/rerank', body);
  t.equal(res.status, 200);
  const top = res.body.results[0];
  t.match(top.document, /서울.*수도/, `top result: ${top.document}`);
  t.equal(res.body.results.length, body.top_n);
});

t.test('README /score example: two pairs, softmax over them', async (t) => {
  const body = exampleBody('/score');
  const res = await srv.post('/score', body);
  t.equal(res.status, 200);
  t.same(Object.keys(res.body).sort(), ['model', 'results', 'usage']);
  t.equal(res.body.results.length, 2);
  t.ok(Math.abs(res.body.results[0].score + res.body.results[1].score - 1) < 1e-9);
  t.type(res.body.usage.tokens, 'number');
});
