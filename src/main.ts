// Command line: `serve` (default) starts the HTTP server; `openapi` writes openapi.yaml from the served spec.
import { writeFileSync } from 'node:fs';
import { buildApp } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createEngine } from './compose.ts';
import { serve } from './server.ts';
import { openapiYaml } from './http/openapi.ts';
import { runEval } from './eval/command.ts';
import { probeCuda } from './backend/cuda-probe.ts';
import { runCalibrate } from './train/calibrate.ts';
import { runFinetune } from './train/finetune.ts';

const USAGE =
  'usage: ko-rerank [serve|openapi|eval|finetune|calibrate|cuda-check] [--flag value ...]   (settings: docs/configuration.md)';

/** `cuda-check [--skip-driver]`: can the CUDA execution provider load here? Exit 0 and what resolved where, or exit 1
 *  and the first thing missing. The gpu image's build runs it with --skip-driver (the driver arrives at run time). */
function cudaCheck(args: string[]): number {
  const probe = probeCuda({ skipDriver: args.includes('--skip-driver') });
  if (!probe.ok) {
    console.error(`ko-rerank cuda-check: ${probe.reason}`);
    return 1;
  }
  console.log(`ko-rerank cuda-check: ok, CUDA ${probe.cudaMajor ?? '?'} provider in ${probe.providerDir}`);
  for (const [lib, path] of Object.entries(probe.resolved)) console.log(`  ${lib} => ${path}`);
  return 0;
}

async function writeOpenapi(config: Config, file = 'openapi.yaml'): Promise<void> {
  const quietConfig = { ...config, logLevel: 'silent' as const };
  const app = await buildApp(quietConfig, createEngine(quietConfig));
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
  if (command === 'cuda-check') process.exit(cudaCheck(rest));
  if (command === 'finetune') process.exit(await runFinetune(rest, process.env));
  if (command === 'calibrate') process.exit(await runCalibrate(rest, process.env));
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
