// docs/api.md's generated route table and error types equal what the served spec renders to (`npm run docs:api`).
import { readFileSync } from 'node:fs';
import t from 'tap';
import { buildApp } from '../../src/app.ts';
import { createEngine } from '../../src/compose.ts';
import { between, replaceBetween } from '../../src/docs/markers.ts';
import { errorTypes, routesTable } from '../../src/docs/routes-table.ts';
import { testConfig } from '../helpers/server.ts';

const config = testConfig();
const app = await buildApp(config, createEngine(config));
await app.ready();
const spec = app.swagger() as Parameters<typeof routesTable>[0];
await app.close();
const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');

t.test('the route table is the served spec (regenerate with `npm run docs:api`)', async (t) => {
  t.equal(between(doc, 'routes'), routesTable(spec));
  for (const path of Object.keys(spec.paths)) t.match(between(doc, 'routes'), `${path}\``, `${path} is in the table`);
});

t.test('the error types are the spec ErrorResponse types, and each is explained under Errors', async (t) => {
  t.equal(between(doc, 'error-types'), errorTypes(spec));
  const errors = doc.slice(doc.indexOf('## Errors'));
  for (const type of errorTypes(spec)
    .match(/`[a-z_]+`/g)!
    .slice(1))
    t.ok(errors.includes(type), `${type} under ## Errors`);
});

t.test('replaceBetween rewrites only the marked part, and a doc without markers is an error', async (t) => {
  const d = 'a\n<!-- BEGIN x (generated: do not edit by hand) -->\nold\n<!-- END x -->\nb';
  t.equal(
    replaceBetween(d, 'x', 'new'),
    'a\n<!-- BEGIN x (generated: do not edit by hand) -->\nnew\n<!-- END x -->\nb',
  );
  t.equal(between(replaceBetween(d, 'x', 'new'), 'x'), 'new');
  t.throws(() => between('no markers', 'x'), /markers/);
});
