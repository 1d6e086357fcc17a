// scripts/ci-tally.mjs: the closing "ci: N passed, N failed, N skipped" line of .ci/run,
// from the runners' own summaries.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ci-tally-'));
const log = (name: string, text: string) => {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
};
const tally = (...files: string[]) =>
  spawnSync(process.execPath, ['scripts/ci-tally.mjs', ...files], { encoding: 'utf8' });

t.test('adds up tap, unittest and schemathesis summaries', async (t) => {
  const tap = log('tap.log', 'ok 1 - test/x.test.ts\n# { total: 119, pass: 117, skip: 2 }\n# time=13291.828ms\n');
  const py = log('py.log', 'test_a ... ok\n\nRan 22 tests in 29.362s\n\nOK (skipped=1)\n');
  const st = log(
    'st.log',
    '\x1b[1mTest cases:\x1b[0m\n  2052 generated, 2052 passed, 16 skipped\n\n=== 1 warning in 21.72s ===\n',
  );
  const r = tally(tap, py, st);
  t.equal(r.status, 0, r.stdout + r.stderr);
  const last = r.stdout.trim().split('\n').at(-1);
  t.equal(last, 'ci: 2190 passed, 0 failed, 19 skipped');
});

t.test('failures in any runner fail the tally', async (t) => {
  const tap = log('tap-fail.log', '# { total: 10, pass: 9, fail: 1 }\n');
  t.equal(tally(tap).status, 1);
  t.match(tally(tap).stdout, /^ci: 9 passed, 1 failed, 0 skipped$/m);
  const py = log('py-fail.log', 'Ran 5 tests in 2.0s\n\nFAILED (failures=1, errors=1)\n');
  t.match(tally(py).stdout, /^ci: 3 passed, 2 failed, 0 skipped$/m);
  const st = log('st-fail.log', '  100 generated, 90 passed, 10 failed\n');
  t.match(tally(st).stdout, /^ci: 90 passed, 10 failed, 0 skipped$/m);
});

t.test("adds up the plain 'NAME: N passed, N failed, N skipped' line (scripts/image-test.sh)", async (t) => {
  const img = log('image.log', 'ok - build --target cpu\nnot ok - x\nimage-test: 24 passed, 0 failed, 1 skipped\n');
  const tap = log('tap2.log', '# { total: 10, pass: 10 }\n');
  const r = tally(img, tap);
  t.equal(r.status, 0, r.stdout);
  t.match(r.stdout, /^ {2}image-test: 24 passed, 0 failed, 1 skipped$/m);
  t.match(r.stdout, /^ci: 34 passed, 0 failed, 1 skipped$/m);
  const failed = tally(log('image-fail.log', 'image-test: 20 passed, 2 failed\n'));
  t.equal(failed.status, 1);
  t.match(failed.stdout, /^ci: 20 passed, 2 failed, 0 skipped$/m);
  // a tally's own closing line is not read back as a runner
  t.equal(tally(log('ci-only.log', 'ci: 5 passed, 0 failed, 0 skipped\n')).status, 1);
});

t.test('a log without any runner summary is a failure, not a pass', async (t) => {
  const r = tally(log('empty.log', 'npm test\n> tap\n'));
  t.equal(r.status, 1);
  t.match(r.stdout, /no test runner summary/);
});

t.test('.ci/run keeps every test step and closes on the tally', async (t) => {
  const run = readFileSync('.ci/run', 'utf8');
  for (const step of [
    'npm test',
    'bash scripts/schemathesis.sh',
    'bash scripts/test-python.sh',
    'bash scripts/test-clients.sh',
    'bash scripts/image-test.sh',
  ]) {
    t.match(run, new RegExp(`^step \\w+ ${step.replace(/\./g, '\\.')}$`, 'm'), `${step} goes through step`);
  }
  const lines = run.trim().split('\n');
  t.equal(lines.at(-1), 'node scripts/ci-tally.mjs "$LOGS"/*.log');
  t.ok(execFileSync('bash', ['-n', '.ci/run']).length === 0);
});
