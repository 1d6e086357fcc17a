// `ko-rerank serve`: the HTTP server's life: start-up checks, listen, model load, graceful drain and forced exit.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from './app.ts';
import { createEngine, type ComposeOptions } from './compose.ts';
import { listenPort, type Config } from './config.ts';
import type { Engine } from './core/engine.ts';
import { closeListener, quiet } from './http/shutdown.ts';
import { loggerOptions } from './http/log-redact.ts';

/** After the drain, the listener closes once no new connection has come for this long (see src/http/shutdown.ts). */
const QUIET_MS = 250;

/** The host part of the URL to print: a wildcard address is reached as localhost. */
function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

/** Ways in for tests and benchmarks (src/compose.ts), and routes they add before the port is bound. */
export interface ServeOptions {
  compose?: Omit<ComposeOptions, 'log'>;
  extend?(app: FastifyInstance, engine: Engine): Promise<void>;
}

/** `ko-rerank serve`: builds the engine and the app, listens, loads the model, and drains on SIGTERM/SIGINT. */
export async function serve(config: Config, opts: ServeOptions = {}): Promise<void> {
  const log = pino(loggerOptions(config.logLevel));
  const engine = createEngine(config, { ...opts.compose, log });
  // A missing, corrupt or mismatched model fails here, before the port is bound (one line on stderr, exit 1).
  await engine.prepare();
  const app = await buildApp(config, engine, { logger: log });
  await opts.extend?.(app, engine);
  let stopping = false;
  // A forced exit fails the queued work but lets the micro-batches on the model finish first (ending a session.run
  // midway aborts the process); 10 s later it gives up waiting.
  let forcing = false;
  const forceExit = async (code: number): Promise<never> => {
    forcing = true;
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 10_000).unref();
    await engine.abort();
    // The failed and the finished requests' answers are written before the sockets close.
    await closeListener(app.server, 500);
    process.exit(code);
  };
  // Graceful drain: /ready turns 503 and new requests get 503 (shutting_down, Retry-After, Connection: close) at once,
  // while the listener stays open so no connection is reset; accepted work has SHUTDOWN_GRACE_MS to finish. Then the
  // listener closes without resetting a socket (src/http/shutdown.ts) and the process exits 0 (1 if work was cut off).
  // A second signal exits at once with 128 + the signal number.
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now without waiting for the drain');
      return forceExit(128 + (signal === 'SIGINT' ? 2 : 15));
    }
    stopping = true;
    const t0 = performance.now();
    log.info(
      { signal, graceMs: config.shutdownGraceMs, active: engine.admission.active },
      'shutting down: draining accepted work',
    );
    const drained = await engine.drain(config.shutdownGraceMs);
    if (forcing) return;
    if (!drained) {
      log.error(
        { active: engine.admission.active },
        `work still running after SHUTDOWN_GRACE_MS=${config.shutdownGraceMs}; exiting`,
      );
      return forceExit(1);
    }
    // New connections (answered 503 shutting_down) stop once the endpoint is removed: the listener closes after
    // QUIET_MS without one, or when the grace runs out. Sockets still open then get up to 1 s to send their request
    // (also answered 503) or close.
    const left = () => Math.max(0, config.shutdownGraceMs - (performance.now() - t0));
    const wasQuiet = await quiet(app.server, QUIET_MS, Math.max(0, left() - 1000));
    if (!wasQuiet)
      log.warn(
        `clients still connecting when SHUTDOWN_GRACE_MS=${config.shutdownGraceMs} ran out; closing the listener`,
      );
    await closeListener(app.server, Math.min(1000, Math.max(100, left())));
    await app.close().catch(() => {});
    await engine.close();
    log.info({ ms: Math.round(performance.now() - t0) }, 'drained; exiting');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // Listen first so /health answers and /ready says 503 while the model loads and warms up.
  // SAGEMAKER_BIND_TO_PORT, when set, wins over PORT.
  await app.listen({ host: config.host, port: listenPort(config) });
  try {
    await engine.start();
  } catch (err) {
    log.fatal({ err }, `model failed to load: ${(err as Error).message}`);
    console.error(
      `ko-rerank: model failed to load from ${engine.model.onnxPath}: ${(err as Error).message.split('\n')[0]}`,
    );
    await app.close();
    process.exit(1);
  }
  // After the model is warm (and after the DEVICE=auto warning, if any): the one line a newcomer needs.
  const { port } = app.server.address() as AddressInfo;
  const base = `http://${displayHost(config.host)}:${port}`;
  log.info(`serving at ${base} (API docs at ${base}/docs)`);
}
