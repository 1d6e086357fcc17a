// SageMaker container contract: /ping, /invocations (HF toolkit payload and the native body), the port setting,
// and `serve` as the first argument of the image's entrypoint (bin/ko-rerank.mjs).
import { spawn } from 'node:child_process';
import t from 'tap';
import { buildApp } from '../../src/app.ts';
import { listenPort, loadConfig } from '../../src/config.ts';
import { createEngine } from '../../src/compose.ts';
import { sigmoid } from '../../src/core/scores.ts';
import { startServer, testConfig } from '../helpers/server.ts';

const srv = await startServer();
t.teardown(() => srv.close());

// The payload ko-reranker's SageMaker endpoint takes (the ko-reranker model card example).
const seed = {
  inputs: [
    { text: '나는 너를 싫어해', text_pair: '나는 너를 사랑해' },
    { text: '나는 너를 좋아해', text_pair: '너에 대한 나의 감정은 사랑 일 수도 있어' },
  ],
};

t.test('GET /ping is 200 once ready', async (t) => {
  const res = await srv.get('/ping');
  t.equal(res.status, 200);
});

t.test('/invocations: HF toolkit payload -> [{label, score: sigmoid(logit)}] in input order', async (t) => {
  const pairs = [
    ...seed.inputs,
    { text: '대한민국의 수도는?', text_pair: '서울은 대한민국의 수도이다.' },
    { text: '대한민국의 수도는?', text_pair: '김치는 전통 음식이다.' },
  ];
  const res = await srv.post('/invocations', { inputs: pairs });
  t.equal(res.status, 200);
  t.equal(res.body.length, pairs.length);
  const native = await srv.post('/score', { pairs: pairs.map((p) => [p.text, p.text_pair]) });
  const logits = new Map<number, number>(native.body.results.map((r: any) => [r.index, r.logit]));
  res.body.forEach((item: any, i: number) => {
    t.same(Object.keys(item), ['label', 'score']);
    t.equal(item.label, 'LABEL_0');
    t.ok(Math.abs(item.score - sigmoid(logits.get(i)!)) < 1e-12, `item ${i} is pair ${i}'s sigmoid(logit)`);
  });
  const raw = await srv.post('/invocations', { inputs: pairs, parameters: { function_to_apply: 'none' } });
  t.same(
    raw.body.map((r: any) => r.score),
    pairs.map((_, i) => logits.get(i)),
    'function_to_apply none: raw logits',
  );
  const sig = await srv.post('/invocations', { ...seed, parameters: { function_to_apply: 'sigmoid' } });
  t.same(sig.body, (await srv.post('/invocations', seed)).body, 'sigmoid is the default');
});

t.test(
  '/invocations as the HF toolkit serves TextClassificationPipeline: single dict, top_k, function_to_apply, tokenizer options',
  async (t) => {
    const logits = (await srv.post('/score', { pairs: seed.inputs.map((p) => [p.text, p.text_pair]) })).body.results;
    const logit = (i: number) => logits.find((r: any) => r.index === i).logit as number;
    const one = await srv.post('/invocations', { inputs: seed.inputs[0] });
    t.same(
      one.body,
      { label: 'LABEL_0', score: sigmoid(logit(0)) },
      'one {text, text_pair}: one {label, score}, not a list',
    );
    const topK = await srv.post('/invocations', { ...seed, parameters: { top_k: 1 } });
    t.same(
      topK.body,
      [0, 1].map((i) => [{ label: 'LABEL_0', score: sigmoid(logit(i)) }]),
      'top_k: a list of labels per input',
    );
    const topNull = await srv.post('/invocations', { inputs: seed.inputs[1], parameters: { top_k: null } });
    t.same(
      topNull.body,
      [{ label: 'LABEL_0', score: sigmoid(logit(1)) }],
      'top_k null (all labels) on one pair: [{label, score}]',
    );
    const topZero = await srv.post('/invocations', { ...seed, parameters: { top_k: 0 } });
    t.same(topZero.body, [[], []], 'top_k 0: no labels, as the pipeline cuts');
    const softmax = await srv.post('/invocations', { ...seed, parameters: { function_to_apply: 'softmax' } });
    t.same(
      softmax.body.map((r: any) => r.score),
      [1, 1],
      'softmax over the one label: 1.0, as transformers computes it',
    );
    const upper = await srv.post('/invocations', { ...seed, parameters: { function_to_apply: 'NONE' } });
    t.same(
      upper.body.map((r: any) => r.score),
      [logit(0), logit(1)],
      'function_to_apply is case-insensitive (the pipeline upper-cases it)',
    );
    const tok = await srv.post('/invocations', {
      ...seed,
      parameters: { truncation: 'only_second', max_length: 512, padding: 'longest' },
    });
    t.same(
      tok.body,
      (await srv.post('/invocations', seed)).body,
      'truncation only_second, max_length = max_len and padding change nothing',
    );
    const strict = await srv.post('/invocations', {
      inputs: [{ text: 'a', text_pair: '가 '.repeat(1000) }],
      parameters: { truncation: 'do_not_truncate' },
    });
    t.equal(strict.status, 422, 'do_not_truncate: refused instead of cut');
  },
);

t.test('/invocations Accept: JSON by default and for */*, text/csv rows, anything else 406', async (t) => {
  const post = (accept: string | undefined, body: unknown = seed) =>
    fetch(`${srv.base}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(accept ? { accept } : {}) },
      body: JSON.stringify(body),
    });
  const json = await (await post(undefined)).json();
  for (const accept of ['*/*', 'application/json', 'application/json, text/plain, */*']) {
    const res = await post(accept);
    t.match(res.headers.get('content-type'), /^application\/json/, accept);
    t.same(await res.json(), json);
  }
  const csv = await post('text/csv');
  t.equal(csv.status, 200);
  t.match(csv.headers.get('content-type'), /^text\/csv/);
  t.equal(
    await csv.text(),
    `label,score\r\n${json.map((r: any) => `LABEL_0,${r.score}\r\n`).join('')}`,
    "the toolkit's csv.DictWriter rows",
  );
  const png = await post('image/png');
  t.equal(png.status, 406);
  t.match(((await png.json()) as any).error, { type: 'not_acceptable', message: /application\/json or text\/csv/ });
  const csvTopK = await post('text/csv', { ...seed, parameters: { top_k: 1 } });
  t.equal(csvTopK.status, 406, 'top_k lists have no CSV rows');
  const csvNative = await post('text/csv', { query: 'a', passages: ['b'] });
  t.equal(csvNative.status, 406);
});

t.test('/invocations: the native /rerank body is answered as /rerank', async (t) => {
  const body = {
    query: '대한민국의 수도는?',
    passages: ['김치는 전통 음식이다.', '서울은 대한민국의 수도이다.'],
    top_n: 1,
    return_documents: true,
  };
  const res = await srv.post('/invocations', body);
  t.equal(res.status, 200);
  t.same(res.body, (await srv.post('/rerank', body)).body);
});

const errors: [string, unknown, RegExp][] = [
  [
    'unknown function_to_apply',
    { ...seed, parameters: { function_to_apply: 'relu' } },
    /function_to_apply must be one of sigmoid \| softmax \| none/,
  ],
  ['unknown parameter', { ...seed, parameters: { stride: 3 } }, /parameters.*stride/],
  [
    'max_length below max_len',
    { ...seed, parameters: { max_length: 16 } },
    /max_length 16 is below the model's max_len 512/,
  ],
  [
    'truncation only_first',
    { ...seed, parameters: { truncation: 'only_first' } },
    /truncation "only_first" is not supported/,
  ],
  ['a single text', { inputs: '나는 너를 사랑해' }, /inputs/],
  ['text_pair not a string', { inputs: [{ text: 'a', text_pair: 3 }] }, /inputs\/0\/text_pair/],
  ['empty inputs', { inputs: [] }, /inputs/],
  ['native body with a bad passage', { query: 'a', passages: ['b', 2] }, /passages\/1/],
  [
    'neither shape',
    { foo: 1 },
    /body must have inputs \(the toolkit payload.*\) or query \(the native \/rerank body\)/,
  ],
  ['native body without passages', { query: 'a' }, /body must have exactly one of passages or documents/],
  [
    'function_to_apply in no case',
    { ...seed, parameters: { function_to_apply: 'Sigmoidal' } },
    /function_to_apply must be one of sigmoid \| softmax \| none \(any case\), got "Sigmoidal"/,
  ],
  [
    'vLLM body',
    { query: 'a', documents: ['b'], model: 'm' },
    /documents and model, which is vLLM's rerank body: POST it to \/rerank/,
  ],
  [
    'truncation false and a passage too long',
    { inputs: [{ text: 'a', text_pair: '가 '.repeat(1000) }], parameters: { truncation: false } },
    /inputs at index 0/,
  ],
];
for (const [name, body, field] of errors) {
  t.test(`/invocations error: ${name} -> 422`, async (t) => {
    const res = await srv.post('/invocations', body);
    t.equal(res.status, 422);
    t.equal(res.body.error.type, 'validation');
    t.match(res.body.error.message, field);
  });
}

t.test('/ping is 503 and /invocations 503 while the model loads', async (t) => {
  const config = testConfig();
  const app = await buildApp(config, createEngine(config));
  t.teardown(() => app.close());
  t.equal((await app.inject({ method: 'GET', url: '/ping' })).statusCode, 503);
  const inv = await app.inject({ method: 'POST', url: '/invocations', payload: seed });
  t.equal(inv.statusCode, 503);
  t.equal(inv.json().error.type, 'not_ready');
});

t.test('SAGEMAKER_BIND_TO_PORT overrides PORT; unset (0) leaves PORT', async (t) => {
  t.equal(listenPort(loadConfig([], { PORT: '9000', SAGEMAKER_BIND_TO_PORT: '8081' })), 8081);
  t.equal(listenPort(loadConfig([], { PORT: '9000' })), 9000);
  t.equal(
    listenPort(loadConfig(['--port', '7000'], { SAGEMAKER_BIND_TO_PORT: '8082' })),
    8082,
    'over the --port flag too',
  );
  t.equal(listenPort(loadConfig([], {})), 8080);
});

t.test(
  '`node bin/ko-rerank.mjs serve` (the image entrypoint + CMD) serves /ping on SAGEMAKER_BIND_TO_PORT',
  async (t) => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(process.execPath, ['bin/ko-rerank.mjs', 'serve'], {
      env: {
        ...process.env,
        PORT: '1',
        HOST: '127.0.0.1',
        SAGEMAKER_BIND_TO_PORT: String(port),
        DEVICE: 'cpu',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    t.teardown(() => {
      child.kill('SIGTERM');
    });
    let ping = 0;
    for (let i = 0; i < 120 && ping !== 200; i++) {
      await new Promise((r) => setTimeout(r, 250));
      ping = await fetch(`http://127.0.0.1:${port}/ping`).then(
        (r) => r.status,
        () => 0,
      );
    }
    t.equal(ping, 200, `ready on port ${port} ${stderr}`);
    const res = await fetch(`http://127.0.0.1:${port}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(seed),
    });
    t.equal(res.status, 200);
    const body = (await res.json()) as { label: string; score: number }[];
    t.equal(body.length, 2);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    t.equal(await exited, 0, 'SIGTERM shuts down cleanly');
  },
);
