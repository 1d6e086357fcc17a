// openapi.yaml at the repo root equals the served spec; the engine does not have to be loaded for it.
import { readFileSync } from 'node:fs';
import t from 'tap';
import YAML from 'yaml';
import { buildApp } from '../../src/app.ts';
import { createEngine } from '../../src/compose.ts';
import { openapiYaml } from '../../src/http/openapi.ts';
import { NOT_BLANK } from '../../src/http/dialects/common.ts';
import { testConfig } from '../helpers/server.ts';

const config = testConfig();
const engine = createEngine(config);
const app = await buildApp(config, engine);
t.teardown(() => app.close());

t.test('openapi.yaml equals the served /openapi.json (regenerate with `npm run openapi`)', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/openapi.json' });
  t.equal(res.statusCode, 200);
  const served = res.json();
  const file = readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8');
  t.same(YAML.parse(file), served);
  t.equal(file, openapiYaml(served), 'byte-identical to the generator output');
  t.equal(served.openapi, '3.0.3');
  for (const path of ['/rerank', '/score', '/health', '/ready', '/info', '/metrics']) t.ok(served.paths[path], path);
  t.ok(served.components.schemas.ErrorResponse, 'the error shape is a named component');
  t.ok(served.paths['/rerank'].post.responses['422'], '422 documented');
});

t.test("the spec has every dialect's shapes and declares 401 on every protected route", async (t) => {
  const served = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  const schemas = Object.keys(served.components.schemas);
  for (const s of [
    'RerankRequest',
    'RerankResponse',
    'TeiRerankRequest',
    'TeiRerankResponse',
    'VllmRerankRequest',
    'VllmRerankResponse',
    'ScoreRequest',
    'ScoreResponse',
    'VllmScoreRequest',
    'VllmScoreResponse',
    'VllmUsage',
    'InvocationsRequest',
  ]) {
    t.ok(schemas.includes(s), `component ${s}`);
  }
  for (const path of ['/score', '/v1/score', '/predict', '/v1/rerank', '/v2/rerank', '/invocations'])
    t.ok(served.paths[path]?.post, `POST ${path}`);
  for (const [path, item] of Object.entries<any>(served.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      const open = Array.isArray(op.security) && op.security.length === 0;
      t.equal(
        Boolean(op.responses['401']),
        !open,
        `${method.toUpperCase()} ${path}: 401 ${open ? 'not ' : ''}declared`,
      );
    }
  }
  for (const path of ['/rerank', '/score', '/predict', '/invocations', '/info'])
    t.ok(served.paths[path][path === '/info' ? 'get' : 'post'].responses['401'], `${path} 401`);
  t.ok(served.paths['/invocations'].post.responses['406'], '/invocations 406 (Accept)');
  t.ok(served.paths['/invocations'].post.responses['200'].content['text/csv'], '/invocations text/csv answer');
});

t.test('the spec states what the server enforces (scripts/schemathesis.sh checks it against the server)', async (t) => {
  const served = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  const schemas = served.components.schemas;
  t.same(
    schemas.RerankRequest.oneOf,
    [{ required: ['passages'] }, { required: ['documents'] }],
    'exactly one of passages or documents',
  );
  t.same(schemas.RerankRequest.not, { required: ['documents', 'model'] }, 'documents + model is the vLLM body');
  for (const name of ['RerankRequest', 'TeiRerankRequest', 'VllmRerankRequest'])
    t.equal(schemas[name].properties.query.pattern, NOT_BLANK, `${name}: non-blank query`);
  t.same(schemas.TeiRerankRequest.properties.truncation_direction.enum, ['Right', 'right'], 'Left is refused');
  t.equal(
    schemas.VllmRerankRequest.properties.truncate_prompt_tokens.maximum,
    -1,
    'truncate_prompt_tokens: -1 or null',
  );
  t.equal(
    schemas.InvocationsRequest.properties.parameters.properties.max_length.minimum,
    engine.model.maxLen,
    "max_length: at least the model's max_len",
  );
  const timeoutRoutes = ['/rerank', '/score', '/v1/score', '/v1/rerank', '/v2/rerank', '/invocations'];
  for (const path of timeoutRoutes) {
    const responses = served.paths[path].post.responses;
    t.ok(responses['504'], `${path}: 504 (its own timeout_ms passed) declared`);
    t.notOk(responses['408'], `${path}: no 408 (the request did arrive)`);
    t.ok(responses['503'], `${path}: 503 (REQUEST_TIMEOUT_MS, not ready, shutting down) declared`);
  }
  t.notOk(served.paths['/predict'].post.responses['504'], '/predict takes no timeout_ms: no 504');
});

t.test(
  "the non-blank pattern means what String.prototype.trim() means, in any regex dialect's reading of it",
  async (t) => {
    const re = new RegExp(NOT_BLANK, 'u');
    const wrong: string[] = [];
    for (let c = 0; c <= 0xffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const ch = String.fromCharCode(c);
      if (re.test(ch) !== (ch.trim() !== '')) wrong.push(c.toString(16));
    }
    t.same(wrong, [], 'every BMP character');
    t.ok(re.test('😀') && !re.test(' \t\u3000\ufeff'), 'astral characters are text; a run of blanks is not');
    t.match(
      NOT_BLANK,
      /^\[\^[\\a-z0-9 -]+\]$/,
      'spelled with escapes only (no \\s, whose set differs between dialects)',
    );
  },
);

t.test('/ready is 503 and inference 503 until the engine is started', async (t) => {
  const ready = await app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.statusCode, 503);
  t.same(ready.json(), { status: 'loading' });
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
  const rr = await app.inject({ method: 'POST', url: '/rerank', payload: { query: 'a', passages: ['b'] } });
  t.equal(rr.statusCode, 503);
  t.equal(rr.json().error.type, 'not_ready');
});

t.test(
  'every 405 the server answers on a spec path is in the spec, with Allow; every declared 405 is answered',
  async (t) => {
    const served = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
    const missing: string[] = [];
    const wrong: string[] = [];
    for (const [path, item] of Object.entries<any>(served.paths)) {
      for (const method of methods) {
        const res = await app.inject({ method: method.toUpperCase() as 'GET', url: path });
        const ref = item[method]?.responses?.['405']?.$ref as string | undefined;
        const declared = ref ? served.components.responses[ref.split('/').pop()!] : item[method]?.responses?.['405'];
        if (res.statusCode === 405) {
          if (!declared) missing.push(`${method.toUpperCase()} ${path}`);
          else if (!declared.headers?.Allow) wrong.push(`${method.toUpperCase()} ${path}: no Allow header declared`);
        } else if (declared) wrong.push(`${method.toUpperCase()} ${path}: declared 405, answered ${res.statusCode}`);
      }
    }
    t.same(missing, [], 'each 405 answered is declared (GET /predict, GET /v1/score, POST /health ...)');
    t.same(wrong, [], 'each declared 405 is answered, with Allow');
    t.ok(served.paths['/predict'].get?.responses['405'], 'GET /predict: 405 declared');
    t.ok(served.paths['/v1/score'].get?.responses['405'], 'GET /v1/score: 405 declared');
  },
);
