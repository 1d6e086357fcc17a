// The core depends on the backend contract only, never on the ONNX implementation or its decorators.
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';

const dir = new URL('../../src/core/', import.meta.url);
for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
  t.test(`src/core/${file} imports nothing from src/backend but contract.ts`, async (t) => {
    const source = readFileSync(new URL(file, dir), 'utf8');
    const fromBackend = [...source.matchAll(/from '\.\.\/backend\/([^']+)'/g)].map((m) => m[1]);
    t.same(
      fromBackend.filter((m) => m !== 'contract.ts'),
      [],
    );
  });
}
