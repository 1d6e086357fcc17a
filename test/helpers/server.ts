// Starts the real server on 127.0.0.1 (port 0) with the embedded model; one per test file.
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { createEngine, type ComposeOptions } from '../../src/compose.ts';
import type { Engine } from '../../src/core/engine.ts';
import { faultInjection, type FaultKind } from './faults.ts';

export interface TestServer {
  base: string;
  app: FastifyInstance;
  engine: Engine;
  config: Config;
  /** With `faults`: sends a fault to an inference worker (false when it is not up); POST /debug/fault does the same. */
  inject(kind: FaultKind, worker?: number): boolean;
  post(path: string, body: unknown): Promise<{ status: number; body: any; headers: Headers }>;
  get(path: string): Promise<{ status: number; body: any; text: string; headers: Headers }>;
  close(): Promise<void>;
}

/** The fast model the plumbing tests run on; the served default (models/ko-reranker-small) has its own tests. */
export const TINY_MODEL_DIR = 'models/ko-reranker-tiny';
/** The default model, as `npm start` serves it. */
export const DEFAULT_MODEL_DIR = 'models/ko-reranker-small';

/**
 * The test config: defaults with the tiny model, MODEL_DIR / MODEL_FILE / DEVICE from the environment, then overrides.
 */
export function testConfig(overrides: Partial<Config> = {}): Config {
  const env: Record<string, string | undefined> = { MODEL_DIR: TINY_MODEL_DIR };
  for (const k of ['MODEL_DIR', 'MODEL_FILE', 'DEVICE']) if (process.env[k] !== undefined) env[k] = process.env[k];
  // CPU unless DEVICE says otherwise: the auto fallback is tested in test/backend/onnx.test.ts.
  return { ...loadConfig([], { DEVICE: 'cpu', ...env }), host: '127.0.0.1', port: 0, logLevel: 'silent', ...overrides };
}

export interface TestServerOptions extends Omit<ComposeOptions, 'workerUrl' | 'onPool'> {
  /** Run the fault-taking worker and add POST /debug/fault (test/helpers/faults.ts). */
  faults?: boolean;
}

export async function startServer(overrides: Partial<Config> = {}, opts: TestServerOptions = {}): Promise<TestServer> {
  const config = testConfig(overrides);
  const { faults: withFaults, ...compose } = opts;
  const faults = withFaults ? faultInjection() : undefined;
  const engine = createEngine(config, { ...compose, ...faults?.compose });
  await engine.start();
  const app = await buildApp(config, engine);
  await faults?.route(app);
  await app.listen({ host: config.host, port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  const base = `http://127.0.0.1:${addr.port}`;
  return {
    base,
    app,
    engine,
    config,
    inject: (kind, worker) => faults?.inject(kind, worker) ?? false,
    async post(path, body) {
      const res = await fetch(base + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    },
    async get(path) {
      const res = await fetch(base + path);
      const text = await res.text();
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: res.status, body, text, headers: res.headers };
    },
    async close() {
      await app.close();
      await engine.close();
    },
  };
}

export interface ReferencePair {
  name: string;
  query: string;
  passage: string;
  input_ids: number[];
  logit: number;
  truncated: boolean;
}

export interface Reference {
  model_dir: string;
  max_len: number;
  query_max_share: number;
  pairs: ReferencePair[];
}

/** test/fixtures/reference.json (the tiny model's), or another fixture file of the same format. */
export async function loadReference(file = 'reference.json'): Promise<Reference> {
  const { readFileSync } = await import('node:fs');
  return JSON.parse(readFileSync(new URL(`../fixtures/${file}`, import.meta.url), 'utf8')) as Reference;
}
