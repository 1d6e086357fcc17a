// Regenerates the generated parts of the docs: `settings` (docs/configuration.md's settings tables and the README's
// table of the basic ones, from src/config.ts)
// and `api` (docs/api.md's route table and error types from the served OpenAPI spec). Tests fail when they drift.
import { readFileSync, writeFileSync } from 'node:fs';
import { buildApp } from '../src/app.ts';
import { basicSettingsTable, loadConfig, settingsTable } from '../src/config.ts';
import { createEngine } from '../src/compose.ts';
import { replaceBetween } from '../src/docs/markers.ts';
import { errorTypes, routesTable } from '../src/docs/routes-table.ts';

function rewrite(file: string, parts: Record<string, string>): void {
  let doc = readFileSync(file, 'utf8');
  for (const [name, content] of Object.entries(parts)) doc = replaceBetween(doc, name, content);
  writeFileSync(file, doc);
  console.log(`wrote ${Object.keys(parts).join(', ')} in ${file}`);
}

const what = process.argv[2];
if (what === 'settings') {
  rewrite('docs/configuration.md', { settings: settingsTable() });
  rewrite('README.md', { settings: basicSettingsTable() });
} else if (what === 'api') {
  const config = { ...loadConfig([], {}), logLevel: 'silent' as const };
  const app = await buildApp(config, createEngine(config));
  await app.ready();
  const spec = app.swagger() as Parameters<typeof routesTable>[0];
  await app.close();
  rewrite('docs/api.md', { routes: routesTable(spec), 'error-types': errorTypes(spec) });
} else {
  console.error('usage: tsx scripts/docs.ts settings|api');
  process.exit(2);
}
