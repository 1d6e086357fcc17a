// Through HTTP, /score on every fixture pair gives PyTorch's logit within 1e-4, and the
// token counts of the reference ids.
import t from 'tap';
import { loadReference, startServer } from '../helpers/server.ts';

const ref = await loadReference();
const srv = await startServer({ modelDir: ref.model_dir, queryMaxShare: ref.query_max_share, maxPassages: 1000 });
t.teardown(() => srv.close());

t.test('the served model has the fixture max_len', async (t) => {
  const info = (await srv.get('/info')).body;
  t.equal(info.max_len, ref.max_len);
});

t.test('all fixture pairs in one /score request', async (t) => {
  const res = await srv.post('/score', { pairs: ref.pairs.map((p) => [p.query, p.passage]) });
  t.equal(res.status, 200);
  t.equal(res.body.results.length, ref.pairs.length);
  t.equal(
    res.body.usage.tokens,
    ref.pairs.reduce((n, p) => n + p.input_ids.length, 0),
    'usage = sum of reference id lengths',
  );
  const byIndex = new Map<number, any>(res.body.results.map((r: any) => [r.index, r]));
  ref.pairs.forEach((p, i) => {
    const r = byIndex.get(i);
    t.ok(Math.abs(r.logit - p.logit) <= 1e-4, `${p.name}: logit ${r.logit} vs reference ${p.logit}`);
    t.equal(r.truncated, p.truncated, `${p.name}: truncated flag`);
  });
});

t.test('each fixture pair alone', async (t) => {
  for (const p of ref.pairs) {
    const res = await srv.post('/score', { pairs: [[p.query, p.passage]] });
    t.ok(Math.abs(res.body.results[0].logit - p.logit) <= 1e-4, p.name);
    t.equal(res.body.usage.tokens, p.input_ids.length, `${p.name}: tokens`);
  }
});
