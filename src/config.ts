// Every setting of the service in one place: env var, CLI flag, default, one-line doc.
// Settings are read once here and passed down; no other module reads process.env.
import { existsSync, readFileSync, statSync } from 'node:fs';

export type Device = 'auto' | 'cuda' | 'cpu';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  host: string;
  port: number;
  modelDir: string;
  modelFile: string;
  device: Device;
  intraOpThreads: number;
  intraOpSpinning: boolean;
  cudaDeviceId: number;
  workers: number;
  watchdogMs: number;
  workerMaxRestarts: number;
  queryMaxShare: number;
  maxLen: number;
  maxBatchTokens: number;
  maxBatchMs: number;
  maxBatchSize: number;
  maxWaitMs: number;
  maxPassages: number;
  maxChunkedPairs: number;
  maxPassageChars: number;
  maxQueuePairs: number;
  maxInflightBodyBytes: number;
  memoryReclaimIdleMs: number;
  admitByWait: boolean;
  requestTimeoutMs: number;
  shutdownGraceMs: number;
  bodyLimit: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  logLevel: LogLevel;
  sagemakerBindToPort: number;
  apiKeys: string[];
  publicRoutes: string[];
}

export class ConfigError extends Error {
  constructor(
    public readonly setting: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Parser<T> = (raw: string) => T;

/** basic: the dozen settings users change first (the README's table); advanced: the rest, by concern. */
export type Tier = 'basic' | 'advanced';

/** The concerns the advanced settings are grouped by in docs/configuration.md, in this order. */
export const GROUPS = [
  'Model and device',
  'Inference workers',
  'Batching',
  'Request limits',
  'Backpressure and shutdown',
  'Connections',
  'Auth',
  'Memory',
  'Logging',
] as const;
export type Group = (typeof GROUPS)[number];

export interface SettingSpec<K extends keyof Config = keyof Config> {
  key: K;
  env: string;
  flag: string;
  default: Config[K];
  doc: string;
  parse: Parser<Config[K]>;
  tier: Tier;
  group: Group;
}

function int(min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Error(`expected an integer, got ${JSON.stringify(raw)}`);
    const n = Number(raw);
    if (n < min || n > max) throw new Error(`expected an integer in [${min}, ${max}], got ${n}`);
    return n;
  };
}

function num(min: number, max: number, exclusiveMin = false): Parser<number> {
  return (raw) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new Error(`expected a number, got ${JSON.stringify(raw)}`);
    if ((exclusiveMin ? n <= min : n < min) || n > max) {
      throw new Error(`expected a number in ${exclusiveMin ? '(' : '['}${min}, ${max}], got ${n}`);
    }
    return n;
  };
}

function oneOf<T extends string>(...values: T[]): Parser<T> {
  return (raw) => {
    if (!(values as string[]).includes(raw))
      throw new Error(`expected one of ${values.join('|')}, got ${JSON.stringify(raw)}`);
    return raw as T;
  };
}

function bool(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new Error(`expected true|false (or 1|0, yes|no, on|off), got ${JSON.stringify(raw)}`);
}

function nonEmpty(raw: string): string {
  if (raw.trim() === '') throw new Error('must not be empty');
  return raw;
}

/**
 * A comma-separated list of keys, or the path of an existing file with one key a line ('#'
 * comments, blank lines skipped).
 */
function apiKeys(raw: string): string[] {
  const value = raw.trim();
  if (value === '') return [];
  let keys: string[];
  if (existsSync(value) && statSync(value).isFile()) {
    keys = readFileSync(value, 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    if (keys.length === 0) throw new Error(`the key file ${value} has no keys`);
  } else {
    if (value.startsWith('/') || value.startsWith('./'))
      throw new Error(`${value} looks like a path but is not a readable file`);
    keys = value.split(',').map((k) => k.trim());
    if (keys.some((k) => k === '')) throw new Error('empty key in the comma-separated list');
  }
  // Never echo the keys themselves in an error.
  const bad = keys.findIndex((k) => !/^[\x21-\x7e]+$/.test(k));
  if (bad >= 0) throw new Error(`key #${bad + 1} has whitespace or non-ASCII characters`);
  return [...new Set(keys)];
}

function routeList(raw: string): string[] {
  const routes = raw
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '');
  const bad = routes.find((r) => !r.startsWith('/'));
  if (bad !== undefined) throw new Error(`route ${JSON.stringify(bad)} must start with /`);
  return routes;
}

function setting<K extends keyof Config>(s: SettingSpec<K>): SettingSpec<K> {
  return s;
}

export const SETTINGS = [
  setting({
    key: 'host',
    tier: 'basic',
    group: 'Connections',
    env: 'HOST',
    flag: '--host',
    default: '0.0.0.0',
    doc: 'Address to listen on.',
    parse: nonEmpty,
  }),
  setting({
    key: 'port',
    tier: 'basic',
    group: 'Connections',
    env: 'PORT',
    flag: '--port',
    default: 8080,
    doc: 'TCP port to listen on (0 = any free port).',
    parse: int(0, 65535),
  }),
  setting({
    key: 'modelDir',
    tier: 'basic',
    group: 'Model and device',
    env: 'MODEL_DIR',
    flag: '--model-dir',
    default: 'models/ko-reranker-small',
    doc: 'Model directory laid out as optimum writes it (config.json, tokenizer.json, onnx/model.onnx). The default is the embedded ko-reranker-small (int8).',
    parse: nonEmpty,
  }),
  setting({
    key: 'modelFile',
    tier: 'basic',
    group: 'Model and device',
    env: 'MODEL_FILE',
    flag: '--model-file',
    default: 'auto',
    doc: 'ONNX file inside MODEL_DIR/onnx (or MODEL_DIR), e.g. model_int8_weights.onnx; auto: model.onnx, else the first of model_int8_weights, model_int8_static, model_int8_blockwise, model_fp16_weights, model_quantized (.onnx) that exists.',
    parse: nonEmpty,
  }),
  setting({
    key: 'maxLen',
    tier: 'basic',
    group: 'Model and device',
    env: 'MAX_LEN',
    flag: '--max-len',
    default: 0,
    doc: "Tokens of one (query, passage) model input, special tokens included; 0 = the model's own limit (tokenizer_config model_max_length, max_position_embeddings less the position offset: 512 for XLM-R-base models, 8192 for bge-reranker-v2-m3). Set lower to bound memory and time per pair (attention cost grows with its square); above the model's limit is refused at start-up.",
    parse: int(0),
  }),
  setting({
    key: 'device',
    tier: 'basic',
    group: 'Model and device',
    env: 'DEVICE',
    flag: '--device',
    default: 'auto' as Device,
    doc: 'auto: CUDA if available, else CPU with a warning; cuda: refuse to start without CUDA; cpu.',
    parse: oneOf<Device>('auto', 'cuda', 'cpu'),
  }),
  setting({
    key: 'intraOpThreads',
    tier: 'advanced',
    group: 'Model and device',
    env: 'INTRA_OP_THREADS',
    flag: '--intra-op-threads',
    default: 0,
    doc: "onnxruntime intra-op threads per worker; 0 = auto: the CPUs this process may use (CPU affinity, capped by the cgroup CPU limit of a container) divided by WORKERS, at least 1. The Kubernetes manifests set it from the pod's CPU request.",
    parse: int(0, 1024),
  }),
  setting({
    key: 'intraOpSpinning',
    tier: 'advanced',
    group: 'Model and device',
    env: 'INTRA_OP_SPINNING',
    flag: '--intra-op-spinning',
    default: false,
    doc: 'Let idle onnxruntime threads spin-wait (its own default) instead of sleeping; off leaves the cores to HTTP and tokenization.',
    parse: bool,
  }),
  setting({
    key: 'cudaDeviceId',
    tier: 'advanced',
    group: 'Model and device',
    env: 'CUDA_DEVICE_ID',
    flag: '--cuda-device-id',
    default: 0,
    doc: 'CUDA device ordinal the session runs on (DEVICE=cuda or auto).',
    parse: int(0, 255),
  }),
  setting({
    key: 'workers',
    tier: 'basic',
    group: 'Inference workers',
    env: 'WORKERS',
    flag: '--workers',
    default: 1,
    doc: 'Inference worker threads, each with its own onnxruntime session.',
    parse: int(1, 64),
  }),
  setting({
    key: 'watchdogMs',
    tier: 'advanced',
    group: 'Inference workers',
    env: 'WATCHDOG_MS',
    flag: '--watchdog-ms',
    default: 10000,
    doc: 'Watchdog of the inference workers: the most a session.run may take, this per 1,000 padded tokens of its micro-batch (never less than this); once runs were measured, a run longer than 20 times its expected time (at least 2 s) or a worker outside a run silent to its heartbeat for 2.5 s counts as hung too. A hung worker is replaced and the requests it held fail (0 = off).',
    parse: int(0),
  }),
  setting({
    key: 'workerMaxRestarts',
    tier: 'advanced',
    group: 'Inference workers',
    env: 'WORKER_MAX_RESTARTS',
    flag: '--worker-max-restarts',
    default: 5,
    doc: 'Worker restarts in a row that may fail (or die before finishing a run) before the service gives up: /health and /ready turn 503 so the orchestrator restarts the pod.',
    parse: int(0, 1000),
  }),
  setting({
    key: 'queryMaxShare',
    tier: 'advanced',
    group: 'Model and device',
    env: 'QUERY_MAX_SHARE',
    flag: '--query-max-share',
    default: 0.75,
    doc: 'Largest share of max_len the query may take; only the passage is truncated after that.',
    parse: num(0, 0.95, true),
  }),
  setting({
    key: 'maxBatchTokens',
    tier: 'basic',
    group: 'Batching',
    env: 'MAX_BATCH_TOKENS',
    flag: '--max-batch-tokens',
    default: 0,
    doc: 'Token budget of one micro-batch, counted as rows x padded length, rows longer than 512 tokens weighted by length / 512 (attention cost grows with its square); at least 512 (max_len if shorter); a pair over the budget runs alone. 0 = by device: 16384 on CUDA, 2048 on CPU.',
    parse: int(0),
  }),
  setting({
    key: 'maxBatchMs',
    tier: 'advanced',
    group: 'Batching',
    env: 'MAX_BATCH_MS',
    flag: '--max-batch-ms',
    default: 50,
    doc: 'CPU only: a micro-batch holds at most the tokens that run in about this long (ms per padded token measured on the running batches), so a request arriving while one runs waits for at most that; 0 = MAX_BATCH_TOKENS alone. Not applied on CUDA.',
    parse: int(0, 60000),
  }),
  setting({
    key: 'maxBatchSize',
    tier: 'advanced',
    group: 'Batching',
    env: 'MAX_BATCH_SIZE',
    flag: '--max-batch-size',
    default: 64,
    doc: 'Most pairs in one micro-batch.',
    parse: int(1, 100000),
  }),
  setting({
    key: 'maxWaitMs',
    tier: 'basic',
    group: 'Batching',
    env: 'MAX_WAIT_MS',
    flag: '--max-wait-ms',
    default: 2,
    doc: 'While a micro-batch runs, longest time a short queue waits for more work before the next is formed (an idle backend gets work at once).',
    parse: num(0, 60000),
  }),
  setting({
    key: 'maxPassages',
    tier: 'basic',
    group: 'Request limits',
    env: 'MAX_PASSAGES',
    flag: '--max-passages',
    default: 1000,
    doc: 'Most passages (or pairs) in one request; more is answered 413.',
    parse: int(1),
  }),
  setting({
    key: 'maxChunkedPairs',
    tier: 'advanced',
    group: 'Request limits',
    env: 'MAX_CHUNKED_PAIRS',
    flag: '--max-chunked-pairs',
    default: 4096,
    doc: 'Most (query, window) pairs one request may make when it asks for chunking; more is answered 413.',
    parse: int(1),
  }),
  setting({
    key: 'maxPassageChars',
    tier: 'advanced',
    group: 'Request limits',
    env: 'MAX_PASSAGE_CHARS',
    flag: '--max-passage-chars',
    default: 100000,
    doc: 'Most characters (UTF-16 code units) in one query or passage, checked before tokenization; more is answered 413.',
    parse: int(1),
  }),
  setting({
    key: 'maxQueuePairs',
    tier: 'advanced',
    group: 'Backpressure and shutdown',
    env: 'MAX_QUEUE_PAIRS',
    flag: '--max-queue-pairs',
    default: 8192,
    doc: 'Backpressure: most (query, passage) pairs (chunk windows counted) accepted and not yet scored; a request that would pass it is answered 429 with Retry-After (one request alone is always accepted).',
    parse: int(1),
  }),
  setting({
    key: 'maxInflightBodyBytes',
    tier: 'advanced',
    group: 'Backpressure and shutdown',
    env: 'MAX_INFLIGHT_BODY_BYTES',
    flag: '--max-inflight-body-bytes',
    default: 64 * 1024 * 1024,
    doc: 'Most bytes of request bodies (Content-Length; BODY_LIMIT when chunked) being read, parsed, tokenized or scored at once; past it a request is answered 429 before its body is read (one request alone is always admitted).',
    parse: int(1024),
  }),
  setting({
    key: 'memoryReclaimIdleMs',
    tier: 'advanced',
    group: 'Memory',
    env: 'MEMORY_RECLAIM_IDLE_MS',
    flag: '--memory-reclaim-idle-ms',
    default: 2000,
    doc: 'After this long without a POST request coming or going (and none inside the engine), give the memory of a burst back to the OS: one full V8 GC and glibc malloc_trim(0), only if RSS grew 32 MiB since the last time (0 = never; see docs/operations.md "Memory after a burst").',
    parse: int(0),
  }),
  setting({
    key: 'admitByWait',
    tier: 'advanced',
    group: 'Backpressure and shutdown',
    env: 'ADMIT_BY_WAIT',
    flag: '--admit-by-wait',
    default: true,
    doc: 'Refuse at once (429 with Retry-After) a request whose predicted wait, from the admitted work and the scoring rate measured from the micro-batches run (kept across idle gaps and worker restarts), passes its deadline, instead of letting it time out in the queue.',
    parse: bool,
  }),
  setting({
    key: 'requestTimeoutMs',
    tier: 'basic',
    group: 'Backpressure and shutdown',
    env: 'REQUEST_TIMEOUT_MS',
    flag: '--request-timeout-ms',
    default: 30000,
    doc: "Deadline of an inference request from when it is accepted; past it the answer is 503 (type timeout, Retry-After) and its queued pairs are dropped. A body `timeout_ms` may only shorten it; the request's own timeout_ms passing is answered 504 (type deadline_exceeded).",
    parse: int(1),
  }),
  setting({
    key: 'shutdownGraceMs',
    tier: 'advanced',
    group: 'Backpressure and shutdown',
    env: 'SHUTDOWN_GRACE_MS',
    flag: '--shutdown-grace-ms',
    default: 25000,
    doc: "On SIGTERM/SIGINT: /ready turns 503, new requests get 503, accepted work has this long to finish before exit (0 if it all finished, 1 if not). Keep it under the orchestrator's kill timeout (compose stop_grace_period, k8s terminationGracePeriodSeconds minus preStop).",
    parse: int(0),
  }),
  setting({
    key: 'bodyLimit',
    tier: 'advanced',
    group: 'Request limits',
    env: 'BODY_LIMIT',
    flag: '--body-limit',
    default: 4 * 1024 * 1024,
    doc: 'Largest request body in bytes; more is answered 413.',
    parse: int(1024),
  }),
  setting({
    key: 'headersTimeoutMs',
    tier: 'advanced',
    group: 'Connections',
    env: 'HEADERS_TIMEOUT_MS',
    flag: '--headers-timeout-ms',
    default: 10000,
    doc: 'A connection must deliver its request headers within this long (a silent or trickling client gets 408 and is closed; checked every second).',
    parse: int(100),
  }),
  setting({
    key: 'bodyTimeoutMs',
    tier: 'advanced',
    group: 'Connections',
    env: 'BODY_TIMEOUT_MS',
    flag: '--body-timeout-ms',
    default: 30000,
    doc: 'A request (headers and body) must be received within this long; a body sent a byte at a time, or a chunked body that never ends, gets 408 and its connection is closed. Inference time does not count.',
    parse: int(100),
  }),
  setting({
    key: 'keepAliveTimeoutMs',
    tier: 'advanced',
    group: 'Connections',
    env: 'KEEP_ALIVE_TIMEOUT_MS',
    flag: '--keep-alive-timeout-ms',
    default: 5000,
    doc: "An idle keep-alive connection is closed after this long. Behind a load balancer that reuses connections, set it above the balancer's idle timeout (AWS ALB: 60 s).",
    parse: int(100),
  }),
  setting({
    key: 'maxConnections',
    tier: 'advanced',
    group: 'Connections',
    env: 'MAX_CONNECTIONS',
    flag: '--max-connections',
    default: 1024,
    doc: 'Most open TCP connections; past it new connections are closed at once, so idle or slow clients cannot take every socket (or file descriptor).',
    parse: int(1),
  }),
  setting({
    key: 'logLevel',
    tier: 'basic',
    group: 'Logging',
    env: 'LOG_LEVEL',
    flag: '--log-level',
    default: 'info' as LogLevel,
    doc: 'pino log level (fatal|error|warn|info|debug|trace|silent).',
    parse: oneOf<LogLevel>('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  }),
  setting({
    key: 'sagemakerBindToPort',
    tier: 'advanced',
    group: 'Connections',
    env: 'SAGEMAKER_BIND_TO_PORT',
    flag: '--sagemaker-bind-to-port',
    default: 0,
    doc: 'Set by SageMaker: when 1-65535, the port to listen on, overriding PORT (0 = unset).',
    parse: int(0, 65535),
  }),
  setting({
    key: 'apiKeys',
    tier: 'basic',
    group: 'Auth',
    env: 'API_KEYS',
    flag: '--api-keys',
    default: [] as string[],
    doc: 'Empty: no auth. Else `Authorization: Bearer <key>` is required on every route outside PUBLIC_ROUTES; a comma-separated list of keys, or the path of an existing file with one key a line.',
    parse: apiKeys,
  }),
  setting({
    key: 'publicRoutes',
    tier: 'advanced',
    group: 'Auth',
    env: 'PUBLIC_ROUTES',
    flag: '--public-routes',
    default: ['/health', '/ready', '/ping', '/metrics', '/docs*', '/openapi.json'],
    doc: 'Routes open without a key when API_KEYS is set (comma-separated; a trailing * matches a prefix).',
    parse: routeList,
  }),
] as const satisfies readonly SettingSpec[];

export function defaultConfig(): Config {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) out[s.key] = s.default;
  return out as unknown as Config;
}

/**
 * Builds the config from CLI flags (`--flag value` or `--flag=value`), then env vars, then defaults.
 * Throws ConfigError naming the setting on any bad value or unknown flag.
 */
export function loadConfig(argv: readonly string[] = [], env: Record<string, string | undefined> = {}): Config {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(arg, `unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const spec = SETTINGS.find((s) => s.flag === name);
    if (!spec) throw new ConfigError(name, `unknown flag ${name}`);
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(spec.env, `${spec.flag} (${spec.env}) needs a value`);
    }
    flags.set(name, value);
  }
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const fromFlag = flags.get(s.flag);
    const raw = fromFlag ?? env[s.env];
    if (raw === undefined) {
      out[s.key] = s.default;
      continue;
    }
    try {
      out[s.key] = (s.parse as Parser<unknown>)(raw);
    } catch (err) {
      const source = fromFlag !== undefined ? `flag ${s.flag}` : `env ${s.env}`;
      throw new ConfigError(s.env, `invalid setting ${s.env} (${source}): ${(err as Error).message}`);
    }
  }
  return out as unknown as Config;
}

/** The port to listen on: SAGEMAKER_BIND_TO_PORT when set, else PORT. */
export function listenPort(config: Config): number {
  return config.sagemakerBindToPort > 0 ? config.sagemakerBindToPort : config.port;
}

const defaultCell = (s: SettingSpec) => (String(s.default) === '' ? '(empty)' : `\`${String(s.default)}\``);

function table(specs: readonly SettingSpec[]): string {
  // A | inside a cell would end it: escaped.
  const rows = specs.map(
    (s) => `| \`${s.env}\` | \`${s.flag}\` | ${defaultCell(s)} | ${s.doc.replaceAll('|', '\\|')} |`,
  );
  return ['| Env var | Flag | Default | Description |', '|---|---|---|---|', ...rows].join('\n');
}

/** The README's table: the basic settings (`npm run settings-table` writes it; test/config.test.ts checks it). */
export function basicSettingsTable(): string {
  return table(SETTINGS.filter((s) => s.tier === 'basic'));
}

/** docs/configuration.md's tables: the basic settings, then the advanced ones under a heading per concern. */
export function settingsTable(): string {
  const parts = ['### Settings people change first', '', basicSettingsTable()];
  for (const group of GROUPS) {
    const specs = SETTINGS.filter((s) => s.tier === 'advanced' && s.group === group);
    if (specs.length > 0) parts.push('', `### ${group}`, '', table(specs));
  }
  return parts.join('\n');
}

/**
 * The micro-batch token budget when MAX_BATCH_TOKENS is 0. A GPU needs large batches to leave its per-run overhead
 * behind (about 16,000 tokens saturate an H100 with XLM-R-large); a CPU runs small ones faster (raw session on 2 cores,
 * embedded model: 3,018 pairs/s at 2048 tokens vs 2,117 at 16384; bench/results/2026-11-29-budget.json).
 */
export function maxBatchTokensFor(
  config: Pick<Config, 'maxBatchTokens'>,
  provider: 'cuda' | 'cpu',
  maxLen: number,
): number {
  // A pair over the budget runs alone (the batcher), so a long max_len does not raise it: rows over 512 tokens count
  // their square (batchCost), and the device's default stays calibrated on 512-token pairs. A set value below
  // minBatchTokensSetting is refused at start-up.
  const floor = minBatchTokensSetting(maxLen);
  if (config.maxBatchTokens > 0) return Math.max(floor, config.maxBatchTokens);
  return Math.max(floor, provider === 'cuda' ? 16384 : 2048);
}

/** The least MAX_BATCH_TOKENS accepted: one 512-token pair, or one max_len pair when max_len is shorter. */
export function minBatchTokensSetting(maxLen: number): number {
  return Math.min(maxLen, 512);
}
