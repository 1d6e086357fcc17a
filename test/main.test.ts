// Start-up fails with a message naming the bad setting.
import { spawnSync } from 'node:child_process';
import t from 'tap';

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });

t.test('a bad env value fails start-up naming the setting', async (t) => {
  const r = run(['serve'], { MAX_BATCH_SIZE: 'lots' });
  t.equal(r.status, 2);
  t.match(r.stderr, /MAX_BATCH_SIZE/);
});

t.test('a bad flag value fails start-up naming the setting', async (t) => {
  const r = run(['serve', '--device', 'tpu']);
  t.equal(r.status, 2);
  t.match(r.stderr, /DEVICE/);
});

t.test('a missing model directory fails start-up naming it', async (t) => {
  const r = run(['serve', '--port', '0'], { MODEL_DIR: '/nonexistent/model' });
  t.equal(r.status, 1);
  t.match(r.stderr, /\/nonexistent\/model/);
});

t.test('MAX_BATCH_TOKENS below max_len fails start-up naming it', async (t) => {
  const r = run(['serve', '--port', '0', '--max-batch-tokens', '100']);
  t.equal(r.status, 1);
  t.match(r.stderr, /MAX_BATCH_TOKENS/);
});

t.test('an unknown command is refused', async (t) => {
  const r = run(['frobnicate']);
  t.equal(r.status, 2);
  t.match(r.stderr, /unknown command/);
});
