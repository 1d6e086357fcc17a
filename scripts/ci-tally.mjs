#!/usr/bin/env node
// `node scripts/ci-tally.mjs LOG...`: the closing line of a CI run, "ci: N passed, N failed, N skipped", added up from
// the summaries that the runners of .ci/run print: tap's `# { total, pass, fail, skip, todo }`, Python unittest's
// `Ran N tests` + `OK` / `FAILED (...)`, schemathesis's `N generated, N passed, N failed, N skipped`, and the plain
// `NAME: N passed, N failed[, N skipped]` line that the repo's own shell runners close on (scripts/image-test.sh). One line per
// runner summary goes to stdout before it. Exit code 1 when no summary was found (CI that ran no test must not pass)
// or when any test failed.
import { readFileSync } from 'node:fs';

const logs = process.argv.slice(2);
if (logs.length === 0) {
  console.error('usage: node scripts/ci-tally.mjs LOG...');
  process.exit(2);
}
const rows = [];
for (const file of logs) {
  const lines = readFileSync(file, 'utf8')
    // eslint-disable-next-line no-control-regex -- ESC starts the colour codes it strips
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const tap = /^# \{ total: (\d+)(.*)\}\s*$/.exec(line);
    if (tap) {
      const n = (k) => Number(new RegExp(`\\b${k}: (\\d+)`).exec(tap[2])?.[1] ?? 0);
      rows.push({ runner: 'tap', passed: n('pass'), failed: n('fail'), skipped: n('skip') + n('todo') });
      continue;
    }
    const ran = /^Ran (\d+) tests? in /.exec(line);
    if (ran) {
      const status = lines.slice(i + 1).find((l) => /^(OK|FAILED)\b/.test(l)) ?? 'FAILED (no status line)';
      const n = (k) => Number(new RegExp(`\\b${k}=(\\d+)`).exec(status)?.[1] ?? 0);
      const failed =
        n('failures') + n('errors') + n('unexpected successes') + (status.startsWith('FAILED (no') ? 1 : 0);
      const skipped = n('skipped') + n('expected failures');
      rows.push({ runner: 'unittest', passed: Number(ran[1]) - failed - skipped, failed, skipped });
      continue;
    }
    const plain = /^([a-z][\w-]*): (\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$/.exec(line);
    if (plain && plain[1] !== 'ci') {
      rows.push({
        runner: plain[1],
        passed: Number(plain[2]),
        failed: Number(plain[3]),
        skipped: Number(plain[4] ?? 0),
      });
      continue;
    }
    const st = /^\s*(\d+) generated(, .*)$/.exec(line);
    if (st) {
      const n = (k) => Number(new RegExp(`(\\d+) ${k}\\b`).exec(st[2])?.[1] ?? 0);
      rows.push({
        runner: 'schemathesis',
        passed: n('passed'),
        failed: n('failed') + n('errored'),
        skipped: n('skipped'),
      });
    }
  }
}
for (const r of rows) console.log(`  ${r.runner}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
const sum = (k) => rows.reduce((s, r) => s + r[k], 0);
if (rows.length === 0) {
  console.log('ci: 0 passed, 1 failed (no test runner summary found in the CI log)');
  process.exit(1);
}
console.log(`ci: ${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped`);
process.exit(sum('failed') > 0 ? 1 : 0);
