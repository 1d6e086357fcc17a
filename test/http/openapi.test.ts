// openapi.yaml at the repo root equals the served spec; the engine does not have to be loaded for it.
import { readFileSync } from 'node:fs';
import t from 'tap';
import YAML from 'yaml';
import { buildApp } from '../../src/app.ts';
import { Engine } from '../../src/core/engine.ts';
import { openapiYaml } from '../../src/http/openapi.ts';
import { testConfig } from '../helpers/server.ts';

const config = testConfig();
const engine = new Engine(config);
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

t.test('/ready is 503 and inference 503 until the engine is started', async (t) => {
  const ready = await app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.statusCode, 503);
  t.same(ready.json(), { status: 'loading' });
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
  const rr = await app.inject({ method: 'POST', url: '/rerank', payload: { query: 'a', passages: ['b'] } });
  t.equal(rr.statusCode, 503);
  t.equal(rr.json().error.type, 'not_ready');
});
