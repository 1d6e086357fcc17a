// `npm run bench -- <suite> [options]`: the one entry point for the measurements in bench/. Each suite is a script
// that reads its own options from process.argv; it runs here, in this process, with the arguments after its name.
// `npm run bench` alone (or --help) lists the suites; `npm run bench -- <suite> --help` shows one suite's options.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Each suite is bench/<name>.ts. */
interface Suite {
  about: string;
  options: string;
}

const SUITES: Record<string, Suite> = {
  throughput: {
    about:
      'the service vs the raw session limit and a naive baseline: padding, concurrency sweep, half-load tail, thread settings, int8 (about 8 min; --quick about 3)',
    options: '[--quick] [--skip int8,naive,sweep,variants] [--out FILE]',
  },
  fairness: {
    about:
      'light requests beside a 1,000-passage one, and 3x overload: the fair batcher and wait-based admission vs batching without them',
    options: '[--quick]',
  },
  chaos: {
    about:
      'faults and abuse (slow clients, heavy neighbour, large bodies, worker death, SIGTERM drain), a verdict per check; JSON on stdout, exit 1 on a failure',
    options: '[--url http://host:port] [--api-key KEY] [--stuck-after-ms MS]',
  },
  memory: {
    about:
      'what a burst of large bodies leaves in RSS, with and without the idle reclaim; onnxruntime CPU arena on vs off (Linux, about 3 min)',
    options: '',
  },
  soak: {
    about:
      'mixed load on every route for a while: RSS growth after the warm-up and unexpected errors; exit 1 on a failure',
    options: '[--seconds 600] [--concurrency 6] [--warmup-seconds 60] [--max-growth 0.10] [--max-queue-pairs 1024]',
  },
  flood: {
    about:
      '128 concurrent ~3.4 MB bodies with the default body budget and with 1 GiB: statuses, when the answers came, RSS',
    options: '',
  },
  budget: {
    about:
      'raw session pairs/s and ms per micro-batch vs MAX_BATCH_TOKENS (env BUDGETS=512,1024,...): how large a batch this CPU needs',
    options: '[--out FILE]',
  },
  'model-speed': {
    about:
      "the default model's speed: bare-session pairs/s (int8, fp32 when built), service pairs/s and latency, vs ko-reranker-tiny",
    options: '[--seconds S]',
  },
  scaling: {
    about:
      'the autoscaling signals (queue pairs/padded tokens, predicted wait, busy fraction, 429s) vs closed-loop concurrency: where the HPA/KEDA thresholds come from',
    options: '[--seconds 8] [--steps 1,2,4,8,16,32,64]',
  },
  'long-inputs': {
    about:
      'memory and time of one pair at 512, 2,048 and 8,192 tokens on a random 8,194-position XLM-R (needs scripts/.venv)',
    options: '[--runs 3] [--out FILE]',
  },
  engine: {
    about:
      'engine.rank throughput and latency without HTTP (tokenizer, batcher, worker, onnxruntime); settings from the env',
    options: '[requests] [concurrency]',
  },
};

const here = path.dirname(fileURLToPath(import.meta.url));
const usage = (name: string) => `npm run bench -- ${name}${SUITES[name]!.options ? ' ' + SUITES[name]!.options : ''}`;

function list(): string {
  const width = Math.max(...Object.keys(SUITES).map((n) => n.length));
  const rows = Object.entries(SUITES).map(([n, s]) => `  ${n.padEnd(width)}  ${s.about}`);
  return [
    'usage: npm run bench -- <suite> [options]   (npm run bench -- <suite> --help: its options)',
    '',
    'suites:',
    ...rows,
    '',
    'Results go to bench/results/<date>-<suite>.json; one-off experiments are in bench/experiments/.',
  ].join('\n');
}

const [name, ...rest] = process.argv.slice(2);
if (name === undefined || name === '--help' || name === '-h') {
  console.log(list());
  process.exit(0);
}
const suite = Object.hasOwn(SUITES, name) ? SUITES[name] : undefined;
if (!suite) {
  console.error(
    `bench: no suite ${JSON.stringify(name)}${name.startsWith('-') ? ' (name the suite first, e.g. npm run bench -- throughput --quick)' : ''}\n\n${list()}`,
  );
  process.exit(2);
}
if (rest.includes('--help') || rest.includes('-h')) {
  console.log(`${usage(name)}\n  ${suite.about}\n  (bench/${name}.ts; its header says more)`);
  process.exit(0);
}
// Each suite reads process.argv.slice(2), as if it were run on its own.
const file = path.join(here, `${name}.ts`);
process.argv = [process.argv[0]!, file, ...rest];
await import(pathToFileURL(file).href);
