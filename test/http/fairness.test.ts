// Fair batching through a real server (tiny model, real ONNX worker): light requests sent while a heavy request of
// long passages runs get the same answers as alone, the heavy one too, and micro-batches queued behind the running
// one were withdrawn for them (ko_rerank_batches_withdrawn_total). Latency figures: `npm run bench -- fairness`.
import t from 'tap';
import { startServer } from '../helpers/server.ts';
import { metricValue } from '../helpers/scripted-backend.ts';

const srv = await startServer({ maxBatchTokens: 2048 });
t.teardown(() => srv.close());

const query = '대한민국의 수도는 어디인가?';
const sentence = '한국의 여러 도시와 음식, 역사에 관한 긴 문단이다. ';
const heavy = { query, passages: Array.from({ length: 250 }, (_, i) => `${i}: ${sentence.repeat(30)}`) };
const light = (i: number) => ({
  query,
  passages: [`${i}: 김치는 발효 음식이다.`, `${i}: 서울은 대한민국의 수도이다.`, `${i}: 부산은 항구 도시이다.`],
});
const order = (body: any) =>
  body.results.map((r: { index: number; logit: number }) => `${r.index}:${r.logit.toFixed(4)}`).join(',');

t.test(
  'light requests beside a heavy one: same answers as alone, queued heavy micro-batches withdrawn for them',
  async (t) => {
    const alone = await Promise.all(Array.from({ length: 6 }, (_, i) => srv.post('/rerank', light(i))));
    const heavyAlone = await srv.post('/rerank', heavy);
    t.equal(heavyAlone.status, 200);
    const before = metricValue((await srv.get('/metrics')).text, 'ko_rerank_batches_withdrawn_total');

    const heavyBeside = srv.post('/rerank', heavy);
    // Wait until the heavy request's micro-batches are running, then send the light ones one after another.
    const batches = async () => metricValue((await srv.get('/metrics')).text, 'ko_rerank_batch_size_count');
    const start = await batches();
    while ((await batches()) < start + 3) await new Promise((r) => setTimeout(r, 5));
    const beside = [];
    for (let i = 0; i < 6; i++) beside.push(await srv.post('/rerank', light(i)));
    const heavyDone = await heavyBeside;

    for (let i = 0; i < 6; i++) {
      t.equal(beside[i]!.status, 200);
      t.equal(order(beside[i]!.body), order(alone[i]!.body), `light request ${i}: same results as alone`);
    }
    t.equal(heavyDone.status, 200);
    t.equal(order(heavyDone.body), order(heavyAlone.body), 'the heavy request: same results as alone');
    const after = metricValue((await srv.get('/metrics')).text, 'ko_rerank_batches_withdrawn_total');
    t.ok(after - before >= 1, `micro-batches withdrawn for the light requests: ${after - before}`);
  },
);
