// Every block marked `<!-- runnable -->` in README.md and docs/*.md: a ```bash block with one `curl ... localhost:8080`
// request, then a ```json block with its answer. Each request is sent as written to a real server (embedded model)
// and its answer must be what the docs show (numbers to 1e-6).
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { DEFAULT_MODEL_DIR, startServer } from '../helpers/server.ts';

const root = new URL('../../', import.meta.url);
const pages = [
  'README.md',
  ...readdirSync(new URL('docs/', root))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const srv = await startServer({ modelDir: DEFAULT_MODEL_DIR }); // what `npm start` serves
t.teardown(() => srv.close());

interface Runnable {
  page: string;
  route: string;
  headers: Record<string, string>;
  body: string;
  expected: string;
}

function runnables(page: string): Runnable[] {
  const text = readFileSync(new URL(page, root), 'utf8');
  const out: Runnable[] = [];
  for (const m of text.matchAll(/<!-- runnable -->\n```bash\n([\s\S]*?)\n```\s*\n```json\n([\s\S]*?)\n```/g)) {
    const cmd = m[1]!.replace(/\\\n\s*/g, ' ');
    const route = /curl -s localhost:8080(\/\S*)/.exec(cmd)?.[1];
    const body = /-d '([\s\S]*?)'\s*$/.exec(cmd)?.[1];
    if (!route || body === undefined)
      throw new Error(`${page}: a runnable block that is not one curl ... -d '...' request: ${cmd.slice(0, 80)}`);
    const headers = Object.fromEntries(
      [...cmd.matchAll(/-H '([^:']+): ([^']*)'/g)].map((h) => [h[1]!.toLowerCase(), h[2]!]),
    );
    out.push({ page, route, headers, body, expected: m[2]! });
  }
  return out;
}

/**
 * a and b equal, numbers within 1e-6 (the docs print the answer of one machine; other
 * CPUs may differ in the last bits).
 */
function same(a: unknown, b: unknown, path = '$'): string | undefined {
  if (typeof a === 'number' && typeof b === 'number')
    return Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)) ? undefined : `${path}: ${a} vs ${b}`;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${path}: ${a.length} items vs ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = same(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort(),
      kb = Object.keys(b).sort();
    if (ka.join() !== kb.join()) return `${path}: keys ${ka} vs ${kb}`;
    for (const k of ka) {
      const d = same((a as any)[k], (b as any)[k], `${path}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return a === b ? undefined : `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

const all = pages.flatMap(runnables);

t.test('the README has runnable examples, and the one /rerank example is among them', async (t) => {
  t.ok(all.filter((r) => r.page === 'README.md').length >= 2, 'README.md has at least two runnable blocks');
  t.ok(
    all.some((r) => r.page === 'README.md' && r.route === '/rerank' && JSON.parse(r.body).passages),
    'the native /rerank example',
  );
});

for (const r of all) {
  t.test(`${r.page}: curl ${r.route} answers what the docs show`, async (t) => {
    const res = await fetch(srv.base + r.route, { method: 'POST', headers: r.headers, body: r.body });
    t.equal(res.status, 200);
    const got = await res.json();
    t.equal(same(got, JSON.parse(r.expected)), undefined, 'same answer as the docs show');
  });
}

t.test('a changed answer is caught', async (t) => {
  const shown = JSON.parse(all[0]!.expected);
  const changed = structuredClone(shown);
  changed.results[0].logit += 0.001;
  t.ok(same(changed, shown), 'a logit off by 1e-3 differs');
  t.ok(same({ ...shown, extra: 1 }, shown), 'an extra field differs');
  t.equal(same(shown, shown), undefined);
});

t.test('README /rerank example: the relevant passage ranks first', async (t) => {
  const r = all.find((x) => x.page === 'README.md' && x.route === '/rerank')!;
  const res = await srv.post('/rerank', JSON.parse(r.body));
  t.match(res.body.results[0].document, /서울.*수도/, `top result: ${res.body.results[0].document}`);
  t.equal(res.body.results.length, JSON.parse(r.body).top_n);
});
