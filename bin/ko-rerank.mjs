#!/usr/bin/env node
// `npx ko-rerank <command>`. Where tsx is installed (`npm ci` brings the devDependencies: a development checkout) it
// runs the TypeScript sources, so tests and local runs never meet a stale build; a production install
// (`npm ci --omit=dev`) runs the compiled dist/ from `npm run build`.
import { existsSync } from 'node:fs';

const source = new URL('../src/main.ts', import.meta.url);
const compiled = new URL('../dist/main.js', import.meta.url);

let tsx = null;
if (existsSync(source)) {
  try {
    tsx = await import('tsx/esm/api');
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
}
if (tsx) {
  tsx.register();
  await import(source.href);
} else if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  console.error('ko-rerank: dist/main.js is missing: run `npm run build` first (it needs the devDependencies)');
  process.exit(1);
}
