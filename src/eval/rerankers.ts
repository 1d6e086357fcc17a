// The eval command's second stage: the in-process engine (the code the server runs) or a
// running ko-rerank's POST /rerank.
import { pino } from 'pino';
import type { Config } from '../config.ts';
import { createEngine } from '../compose.ts';
import type { Engine } from '../core/engine.ts';

export interface Reranker {
  /** Model name as the engine (or the server's responses) report it; known once start() resolved. */
  readonly model: string;
  /** Where the reranker runs, for the report: "in-process (cpu)" or the server URL. */
  readonly where: string;
  start(): Promise<void>;
  /** Indexes into `passages`, best first (all of them). */
  rank(query: string, passages: readonly string[]): Promise<number[]>;
  close(): Promise<void>;
}

/** The engine in this process, created and started the way `ko-rerank serve` does. Logs go to stderr. */
export class EngineReranker implements Reranker {
  private readonly engine: Engine;

  constructor(config: Config) {
    this.engine = createEngine(config, { log: pino({ level: config.logLevel }, pino.destination(2)) });
  }

  get model(): string {
    return this.engine.model.name;
  }

  get where(): string {
    const provider = this.engine.info().backend?.provider;
    return provider ? `in-process (${provider})` : 'in-process';
  }

  start(): Promise<void> {
    return this.engine.start();
  }

  async rank(query: string, passages: readonly string[]): Promise<number[]> {
    const out = await this.engine.rank(query, passages);
    return out.results.map((r) => r.index);
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}

export class HttpRerankError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpRerankError';
  }
}

export interface HttpRerankerOptions {
  /** Per-request time limit. */
  timeoutMs?: number;
  /** Retries of a 503 (model loading) or 429 answer, with exponential back-off from 250 ms. */
  retries?: number;
}

/** A running ko-rerank, through POST /rerank with the native body {query, passages}. */
export class HttpReranker implements Reranker {
  private readonly endpoint: string;
  private name: string | undefined;

  constructor(
    readonly url: string,
    private readonly opts: HttpRerankerOptions = {},
  ) {
    this.endpoint = new URL('rerank', url.endsWith('/') ? url : `${url}/`).href;
  }

  get model(): string {
    return this.name ?? 'unknown model';
  }

  get where(): string {
    return this.url;
  }

  async start(): Promise<void> {
    // One tiny request: checks the server answers and learns the model name.
    await this.rank('연결 확인', ['서버가 응답하는지 확인합니다.']);
  }

  async rank(query: string, passages: readonly string[]): Promise<number[]> {
    const retries = this.opts.retries ?? 5;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(this.endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query, passages }),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 120_000),
        });
      } catch (err) {
        const cause = (err as { cause?: Error }).cause;
        throw new HttpRerankError(0, `POST ${this.endpoint} failed: ${cause?.message ?? (err as Error).message}`);
      }
      const text = await res.text();
      if ((res.status === 503 || res.status === 429) && attempt < retries) {
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
        continue;
      }
      // The answer of a server we do not control: every field is checked before use.
      let body: { error?: { message?: string }; results?: { index?: unknown }[]; model?: unknown } | undefined;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      if (res.status !== 200) {
        const detail = body?.error?.message ?? text.slice(0, 200);
        throw new HttpRerankError(res.status, `POST ${this.endpoint} answered ${res.status}: ${detail}`);
      }
      const results = body?.results;
      if (
        !Array.isArray(results) ||
        results.length !== passages.length ||
        !results.every((r) => Number.isInteger(r?.index))
      ) {
        throw new HttpRerankError(
          res.status,
          `POST ${this.endpoint}: expected ${passages.length} results with an index each, got ${text.slice(0, 200)}`,
        );
      }
      if (typeof body?.model === 'string') this.name = body.model;
      return results.map((r) => r.index as number);
    }
  }

  async close(): Promise<void> {}
}
