// Start-up fails with a message naming the bad setting.
import { spawn, spawnSync } from 'node:child_process';
import t from 'tap';
import { probeCuda } from '../src/backend/cuda-probe.ts';

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });

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

t.test('MAX_BATCH_TOKENS below one 512-token pair (max_len if shorter) fails start-up naming it', async (t) => {
  const r = run(['serve', '--port', '0', '--max-batch-tokens', '100']);
  t.equal(r.status, 1);
  t.match(r.stderr, /MAX_BATCH_TOKENS/);
});

t.test('an unknown command is refused', async (t) => {
  const r = run(['frobnicate']);
  t.equal(r.status, 2);
  t.match(r.stderr, /unknown command/);
});

// Without CUDA (no provider files in node_modules, as `npm ci` with ONNXRUNTIME_NODE_INSTALL=skip leaves it), the
// default DEVICE=auto starts quietly on CPU: no onnxruntime error text, one warning that says why.
const cudaHere = probeCuda();
t.test(
  'DEVICE=auto without CUDA: one warning, no onnxruntime error text, /info says why',
  { skip: cudaHere.ok && 'CUDA is usable here' },
  async (t) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', 'serve', '--port', '0', '--host', '127.0.0.1'],
      {
        env: { ...process.env, DEVICE: 'auto' },
      },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    t.teardown(() => child.kill('SIGKILL'));
    const deadline = Date.now() + 60_000;
    let info: any;
    while (Date.now() < deadline && !info) {
      await new Promise((r) => setTimeout(r, 200));
      const base = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      if (!base || !/"ready":true/.test(output) || !/serving at/.test(output)) continue;
      info = await (await fetch(`${base}/info`)).json();
    }
    t.ok(info, 'the server started');
    t.equal(info.provider, 'cpu');
    t.match(info.provider_reason, cudaHere.ok ? '' : cudaHere.reason);
    t.notMatch(output, /\[E:onnxruntime|\[W:onnxruntime|Failed to load library/, 'no onnxruntime error text');
    const warnings = output.split('\n').filter((l) => l.includes('"level":40'));
    t.equal(warnings.length, 1, 'one warning');
    t.match(warnings[0], /DEVICE=auto: serving on CPU, CUDA is not available: /);
    const lines = output.split('\n');
    const serving = lines.findIndex((l) =>
      /"level":30.*"msg":"serving at http:\/\/127\.0\.0\.1:\d+ \(API docs at http:\/\/127\.0\.0\.1:\d+\/docs\)"/.test(
        l,
      ),
    );
    t.ok(
      serving > lines.findIndex((l) => l.includes('"level":40')),
      'then one info line with the server URL and /docs, after the warning',
    );
    const docs = /API docs at (http:\/\/[^)]+)\)/.exec(lines[serving] ?? '')?.[1];
    t.equal(docs && (await fetch(docs)).status, 200, `${docs} answers`);
  },
);

t.test(
  'DEVICE=cuda without CUDA fails start-up with one line naming what is missing',
  { skip: cudaHere.ok && 'CUDA is usable here' },
  async (t) => {
    const r = run(['serve', '--port', '0', '--host', '127.0.0.1'], { DEVICE: 'cuda', LOG_LEVEL: 'silent' });
    t.equal(r.status, 1);
    t.notMatch(r.stderr, /\[E:onnxruntime/);
    const lines = r.stderr.trim().split('\n');
    t.equal(lines.length, 1, r.stderr);
    t.match(lines[0], /DEVICE=cuda but the CUDA execution provider cannot load: /);
    if (!cudaHere.ok) t.ok(lines[0]!.includes(cudaHere.missing), `names ${cudaHere.missing}`);
  },
);

t.test('cuda-check says what is missing (exit 1) or what resolved (exit 0)', async (t) => {
  const r = run(['cuda-check']);
  t.equal(r.status, cudaHere.ok ? 0 : 1);
  if (!cudaHere.ok) t.match(r.stderr, cudaHere.reason);
});
