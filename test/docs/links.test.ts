// README.md and docs/*.md: every relative link resolves to a file (and a #section to a heading of that file), README
// stays the short user's guide (at most 16 KB), and every docs page starts by saying who it is for.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const pages = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The file's text with fenced code blocks blanked out (links and headings inside them do not count). */
const prose = (file: string) => readFileSync(join(root, file), 'utf8').replace(/^```[\s\S]*?^```/gm, '');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(file: string): Set<string> {
  const out = new Set<string>();
  for (const m of prose(file).matchAll(/^#{1,6} (.+)$/gm))
    out.add(
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\- _]/gu, '')
        .replace(/ /g, '-'),
    );
  return out;
}

t.test('every relative link in README.md and docs/*.md resolves', async (t) => {
  let checked = 0;
  for (const page of pages) {
    for (const m of prose(page).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/i.test(target)) continue;
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const file = path ? join(dirname(join(root, page)), path) : join(root, page);
      checked++;
      if (!existsSync(file)) {
        t.fail(`${page}: ${target} does not exist`);
        continue;
      }
      if (anchor && statSync(file).isFile() && file.endsWith('.md')) {
        const rel = file.slice(root.length + 1);
        t.ok(anchors(rel).has(anchor), `${page}: ${target} names a heading of ${rel}`);
      }
    }
  }
  t.ok(checked > 50, `${checked} links checked`);
});

t.test('README.md is at most 16 KB and links to every docs page', async (t) => {
  const readme = readFileSync(join(root, 'README.md'));
  t.ok(readme.length <= 16 * 1024, `README.md is ${readme.length} bytes`);
  for (const page of pages.slice(1)) t.match(readme.toString(), `](${page}`, `README links ${page}`);
});

t.test('every docs page starts with its title, then a sentence saying who it is for', async (t) => {
  for (const page of pages.slice(1))
    t.match(readFileSync(join(root, page), 'utf8'), /^# .+\n\nThis page is for [^\n]+/, page);
});
