// Command line: `serve` (default) starts the HTTP server; `openapi` writes openapi.yaml from the served spec.
import { writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { REDACT, buildApp } from './app.ts';
import { ConfigError, listenPort, loadConfig, type Config } from './config.ts';
import { Engine } from './core/engine.ts';
import { openapiYaml } from './http/openapi.ts';
import { runEval } from './eval/command.ts';

const USAGE = 'usage: tsx src/main.ts [serve|openapi|eval] [--flag value ...]   (see README.md for the settings)';

async function serve(config: Config): Promise<void> {
  const log = pino({ level: config.logLevel, redact: REDACT });
  const engine = new Engine(config, log);
  const app = await buildApp(config, engine, { logger: log });
  const shutdown = async (signal: string) => {
    log.info({ signal }, 'shutting down');
    await app.close();
    await engine.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  // Listen first so /health answers and /ready says 503 while the model loads and warms up.
  // SAGEMAKER_BIND_TO_PORT, when set, wins over PORT.
  await app.listen({ host: config.host, port: listenPort(config) });
  try {
    await engine.start();
  } catch (err) {
    log.fatal({ err }, `model failed to load: ${(err as Error).message}`);
    await app.close();
    process.exit(1);
  }
}

async function writeOpenapi(config: Config, file = 'openapi.yaml'): Promise<void> {
  const engine = new Engine({ ...config, logLevel: 'silent' });
  const app = await buildApp({ ...config, logLevel: 'silent' }, engine);
  await app.ready();
  writeFileSync(file, openapiYaml(app.swagger()));
  await app.close();
  console.log(`wrote ${file}`);
}

async function main(argv: string[]): Promise<void> {
  const command = argv[0] && !argv[0].startsWith('--') ? argv[0] : 'serve';
  const rest = command === argv[0] ? argv.slice(1) : argv;
  // eval has its own flags (and passes the server settings on to loadConfig itself).
  if (command === 'eval') process.exit(await runEval(rest, process.env));
  let config: Config;
  try {
    config = loadConfig(rest, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`ko-rerank: ${err.message}\n${USAGE}`);
      process.exit(2);
    }
    throw err;
  }
  try {
    if (command === 'serve') await serve(config);
    else if (command === 'openapi') await writeOpenapi(config);
    else {
      console.error(`ko-rerank: unknown command ${JSON.stringify(command)}\n${USAGE}`);
      process.exit(2);
    }
  } catch (err) {
    console.error(`ko-rerank: ${(err as Error).message}`);
    process.exit(1);
  }
}

await main(process.argv.slice(2));
