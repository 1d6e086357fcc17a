import { readFileSync } from 'node:fs';
import { between } from '../src/docs/markers.ts';
import t from 'tap';
import {
  ConfigError,
  GROUPS,
  SETTINGS,
  basicSettingsTable,
  defaultConfig,
  loadConfig,
  maxBatchTokensFor,
  settingsTable,
} from '../src/config.ts';
import { computeMaxLen } from '../src/backend/model-dir.ts';

t.test('defaults', async (t) => {
  const c = loadConfig([], {});
  t.same(c, defaultConfig());
  t.equal(c.port, 8080);
  t.equal(c.modelDir, 'models/ko-reranker-small');
  t.equal(c.modelFile, 'auto');
  t.equal(c.device, 'auto');
  t.equal(c.queryMaxShare, 0.75);
});

t.test('env vars and flags; flags win', async (t) => {
  const c = loadConfig(['--port', '9000', '--device=cpu', '--max-wait-ms', '0.5'], {
    PORT: '7000',
    MAX_BATCH_SIZE: '16',
  });
  t.equal(c.port, 9000);
  t.equal(c.device, 'cpu');
  t.equal(c.maxWaitMs, 0.5);
  t.equal(c.maxBatchSize, 16);
});

t.test('MAX_BATCH_TOKENS=0 (the default) picks the budget by device; a value wins', async (t) => {
  const dflt = loadConfig([], {});
  t.equal(dflt.maxBatchTokens, 0);
  t.equal(maxBatchTokensFor(dflt, 'cpu', 512), 2048);
  t.equal(maxBatchTokensFor(dflt, 'cuda', 512), 16384);
  t.equal(maxBatchTokensFor(loadConfig([], { MAX_BATCH_TOKENS: '4096' }), 'cuda', 512), 4096);
  t.equal(maxBatchTokensFor(dflt, 'cpu', 8192), 2048, 'a long max_len does not raise it: a longer pair runs alone');
  t.equal(maxBatchTokensFor(dflt, 'cpu', 128), 2048);
  t.equal(maxBatchTokensFor(loadConfig([], { MAX_BATCH_TOKENS: '600' }), 'cpu', 8192), 600);
});

t.test('booleans and the CUDA device', async (t) => {
  t.equal(loadConfig([], {}).intraOpSpinning, false);
  t.equal(loadConfig([], {}).cudaDeviceId, 0);
  for (const on of ['1', 'true', 'YES', 'on'])
    t.equal(loadConfig([], { INTRA_OP_SPINNING: on }).intraOpSpinning, true, on);
  for (const off of ['0', 'false', 'no', 'Off'])
    t.equal(loadConfig([], { INTRA_OP_SPINNING: off }).intraOpSpinning, false, off);
  t.equal(loadConfig(['--intra-op-spinning', 'true', '--cuda-device-id', '3'], {}).cudaDeviceId, 3);
});

const bad: [string[], Record<string, string>, string][] = [
  [[], { PORT: 'eighty' }, 'PORT'],
  [[], { PORT: '70000' }, 'PORT'],
  [[], { DEVICE: 'gpu' }, 'DEVICE'],
  [[], { MAX_BATCH_TOKENS: '-1' }, 'MAX_BATCH_TOKENS'],
  [[], { MAX_BATCH_SIZE: '1.5' }, 'MAX_BATCH_SIZE'],
  [[], { QUERY_MAX_SHARE: '1.2' }, 'QUERY_MAX_SHARE'],
  [[], { QUERY_MAX_SHARE: '0' }, 'QUERY_MAX_SHARE'],
  [[], { MAX_WAIT_MS: '-1' }, 'MAX_WAIT_MS'],
  [[], { BODY_LIMIT: 'big' }, 'BODY_LIMIT'],
  [[], { LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  [[], { MODEL_DIR: ' ' }, 'MODEL_DIR'],
  [[], { INTRA_OP_SPINNING: 'maybe' }, 'INTRA_OP_SPINNING'],
  [[], { CUDA_DEVICE_ID: '-1' }, 'CUDA_DEVICE_ID'],
  [['--workers', '0'], {}, 'WORKERS'],
  [['--max-passages'], {}, 'MAX_PASSAGES'],
  [['--no-such-flag', '1'], {}, '--no-such-flag'],
];
for (const [argv, env, name] of bad) {
  t.test(`bad value fails naming ${name}`, async (t) => {
    let caught: unknown;
    try {
      loadConfig(argv, env);
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof ConfigError, 'throws a ConfigError');
    t.equal((caught as ConfigError).setting, name);
    t.match((caught as Error).message, name);
  });
}

t.test('every setting has env, flag, doc and a default its own parser accepts', async (t) => {
  const envs = new Set<string>();
  for (const s of SETTINGS) {
    t.match(s.env, /^[A-Z][A-Z0-9_]+$/);
    t.match(s.flag, /^--[a-z][a-z0-9-]+$/);
    t.ok(s.doc.length > 10, `${s.env} has a doc line`);
    t.same((s.parse as (r: string) => unknown)(String(s.default)), s.default, `${s.env} default round-trips`);
    t.notOk(envs.has(s.env));
    envs.add(s.env);
  }
});

t.test('docs/configuration.md settings table is in sync with src/config.ts', async (t) => {
  const doc = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
  t.equal(between(doc, 'settings'), settingsTable(), 'regenerate it with `npm run settings-table`');
});

t.test("the README's table of basic settings is in sync with src/config.ts", async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  t.equal(between(readme, 'settings'), basicSettingsTable(), 'regenerate it with `npm run settings-table`');
});

t.test(
  'two tiers: a dozen or so basic settings, the rest grouped by concern; every setting in docs/configuration.md',
  async (t) => {
    const basic = SETTINGS.filter((s) => s.tier === 'basic');
    t.ok(basic.length >= 8 && basic.length <= 15, `${basic.length} basic settings`);
    for (const env of ['MODEL_DIR', 'DEVICE', 'PORT', 'API_KEYS'])
      t.ok(
        basic.some((s) => s.env === env),
        `${env} is basic`,
      );
    for (const s of SETTINGS) t.ok((GROUPS as readonly string[]).includes(s.group), `${s.env} has a group`);
    const table = settingsTable();
    for (const s of SETTINGS) t.match(table, `| \`${s.env}\` |`, `${s.env} is in the table`);
  },
);

t.test('test-only and comparison switches are not settings', async (t) => {
  for (const env of ['FAULT_INJECTION', 'FAIR_BATCHING'])
    t.notOk(
      SETTINGS.some((s) => s.env === env),
      env,
    );
});

t.test(
  "max_len = the model's own limit: min(model_max_length, max_position_embeddings less the position offset)",
  async (t) => {
    const xlmr = { model_type: 'xlm-roberta', pad_token_id: 1 };
    t.equal(computeMaxLen({ ...xlmr, max_position_embeddings: 514 }, { model_max_length: 512 }), 512);
    t.equal(computeMaxLen({ ...xlmr, max_position_embeddings: 514 }, { model_max_length: 1e30 }), 512);
    t.equal(computeMaxLen({ ...xlmr, max_position_embeddings: 8194 }, { model_max_length: 8192 }), 8192, 'no 512 cap');
    t.equal(computeMaxLen({ ...xlmr, max_position_embeddings: 8194 }, { model_max_length: 1e30 }), 8192);
    t.equal(computeMaxLen({ ...xlmr, max_position_embeddings: 258 }, {}), 256);
    t.equal(computeMaxLen({ ...xlmr, max_position_embeddings: 514 }, { model_max_length: 128 }), 128);
    t.equal(
      computeMaxLen({ model_type: 'bert', max_position_embeddings: 512, pad_token_id: 0 }, {}),
      512,
      'BERT: no offset',
    );
    t.equal(computeMaxLen({ model_type: 'electra', max_position_embeddings: 512 }, { model_max_length: 512 }), 512);
  },
);
