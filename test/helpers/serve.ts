// `ko-rerank serve` with test-only switches, for the benchmarks that compare or break things (bench/chaos.ts,
// bench/fairness.ts); they are not settings, so production never has them:
//   node --import tsx test/helpers/serve.ts [--faults] [--length-order-batching] [--flag value ...]
// --faults: the fault-taking inference worker and POST /debug/fault (test/helpers/faults.ts);
// --length-order-batching: micro-batches in length order across requests, nothing withdrawn (the unfair batcher).
import { ConfigError, loadConfig } from '../../src/config.ts';
import { serve } from '../../src/server.ts';
import { faultInjection } from './faults.ts';

const SWITCHES = ['--faults', '--length-order-batching'];
const argv = process.argv.slice(2);
const on = (s: string) => argv.includes(s);
const rest = argv.filter((a) => !SWITCHES.includes(a) && a !== 'serve');
try {
  const config = loadConfig(rest, process.env);
  const faults = on('--faults') ? faultInjection() : undefined;
  await serve(config, {
    compose: { ...faults?.compose, fairBatching: !on('--length-order-batching') },
    extend: async (app) => faults?.route(app),
  });
} catch (err) {
  console.error(`test server: ${(err as Error).message}`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
