// `ko-rerank calibrate --model DIR --data FILE`: fits P(relevant | logit) for a served model directory (one trained
// elsewhere, the real ko-reranker say) on labelled queries, scoring with the real engine so the calibration matches
// what the server computes; writes DIR/calibration.json (and DIR/reliability.png).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../config.ts';
import { UsageError, type EvalIO } from '../eval/command.ts';
import { DataError } from '../eval/data.ts';
import { ModelDirError } from '../backend/model-dir.ts';
import { scoreHeldOut, type HeldOutOptions, type HeldOutResult } from './heldout.ts';
import { PythonError, pythonPath, runPython } from './python.ts';

export const CALIBRATE_USAGE = `usage: ko-rerank calibrate --model DIR --data FILE [options] [server settings]

Fits the probability that a passage is relevant, P = sigmoid(a * logit + b) (Platt scaling), on the queries of FILE:
each query's BM25 top-k over the corpus is scored by the model in DIR (as the server scores it) and labelled by the
query's positives. Writes DIR/calibration.json and DIR/reliability.png (needs the Python of \`npm run setup:train\`);
the server then answers normalize: "calibrated". Use queries the model was not trained on.

  --model DIR            a model directory ko-rerank serves (MODEL_DIR)
  --data FILE            JSONL {"query","pos":[...]} or CSV/TSV (query, passage columns), as \`ko-rerank eval\`
  --corpus FILE          more passages for the candidates (repeatable)
  --format F, --query-column NAME, --passage-column NAME   as \`ko-rerank eval\`
  --top-k N              candidates per query (default 20)
  --limit N              the first N queries only
  --concurrency N        queries scored at once (default 8)
  --python PATH          the Python to fit with (default KO_RERANK_PYTHON, scripts/.venv, python3)
  -h, --help             this text

Server settings (--model-file, --device, --intra-op-threads ...) choose how the model is run; docs/configuration.md.`;

export interface ParsedArgs {
  values: Map<string, string[]>;
  flags: Set<string>;
  rest: string[];
}

/** `--name value` / `--name=value` for the names in `valueFlags`, the `booleans`, and the rest (left in order). */
export function parseArgs(
  argv: readonly string[],
  valueFlags: ReadonlySet<string>,
  booleans: ReadonlySet<string>,
): ParsedArgs {
  const out: ParsedArgs = { values: new Map(), flags: new Set(), rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq >= 0 ? arg.slice(0, eq) : arg;
    if (arg === '-h' || arg === '--help') out.flags.add('--help');
    else if (booleans.has(name)) out.flags.add(name);
    else if (valueFlags.has(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      out.values.set(name, [...(out.values.get(name) ?? []), value]);
    } else out.rest.push(arg);
  }
  return out;
}

export function positiveInt(flag: string, raw: string | undefined, fallback?: number): number | undefined {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1)
    throw new UsageError(`${flag} expects a positive integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

export function dataFormat(raw: string | undefined): HeldOutOptions['format'] {
  if (raw === undefined) return undefined;
  if (raw !== 'jsonl' && raw !== 'csv' && raw !== 'tsv')
    throw new UsageError(`--format expects jsonl, csv or tsv, got ${JSON.stringify(raw)}`);
  return raw;
}

/**
 * The exit status of a `calibrate` / `finetune` run that threw, its message on stderr: 2 for a usage error (with the
 * usage text), 1 for a failure the user can act on (settings, data, model directory, the Python side); anything else
 * is a bug and is rethrown.
 */
export function commandFailed(command: string, usage: string, err: unknown, io: EvalIO): number {
  if (err instanceof UsageError) {
    io.stderr.write(`ko-rerank ${command}: ${err.message}\n\n${usage}\n`);
    return 2;
  }
  if (
    err instanceof ConfigError ||
    err instanceof DataError ||
    err instanceof ModelDirError ||
    err instanceof PythonError
  ) {
    io.stderr.write(`ko-rerank ${command}: ${err.message}\n`);
    return 1;
  }
  throw err;
}

/** Fits and writes DIR/calibration.json (+ reliability.png) from scored pairs, in Python (calibration.py). */
export async function fitCalibration(
  python: string,
  scored: HeldOutResult,
  source: string,
  outFile: string,
  plotFile: string | undefined,
): Promise<void> {
  const tmp = mkdtempSync(path.join(tmpdir(), 'ko-rerank-calibrate-'));
  try {
    const scores = path.join(tmp, 'scores.json');
    writeFileSync(scores, JSON.stringify({ logits: scored.logits, labels: scored.labels, source }));
    const args = ['-m', 'korerank_train.calibration', '--scores', scores, '--out', outFile];
    if (plotFile) args.push('--plot', plotFile);
    await runPython(python, args, 'calibration');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const VALUE_FLAGS = new Set([
  '--model',
  '--data',
  '--corpus',
  '--format',
  '--query-column',
  '--passage-column',
  '--top-k',
  '--limit',
  '--concurrency',
  '--python',
]);

export async function runCalibrate(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  io: EvalIO = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  try {
    const args = parseArgs(argv, VALUE_FLAGS, new Set());
    if (args.flags.has('--help')) {
      io.stdout.write(`${CALIBRATE_USAGE}\n`);
      return 0;
    }
    const one = (f: string) => args.values.get(f)?.at(-1);
    const model = one('--model');
    const data = one('--data');
    if (!model || !data) throw new UsageError('--model DIR and --data FILE are required');
    const opts: HeldOutOptions = {
      data,
      format: dataFormat(one('--format')),
      queryColumn: one('--query-column'),
      passageColumn: one('--passage-column'),
      corpus: args.values.get('--corpus') ?? [],
      topK: positiveInt('--top-k', one('--top-k'), 20)!,
      contexts: 3,
      limit: positiveInt('--limit', one('--limit')),
      concurrency: positiveInt('--concurrency', one('--concurrency'), 8)!,
    };
    const scored = await scoreHeldOut(model, opts, args.rest, env, io.stderr);
    const source = `${scored.queries} queries of ${data}, BM25 top-${opts.topK} each, scored by ${scored.model}`;
    await fitCalibration(
      pythonPath(env, one('--python')),
      scored,
      source,
      path.join(model, 'calibration.json'),
      path.join(model, 'reliability.png'),
    );
    io.stdout.write(`wrote ${path.join(model, 'calibration.json')} and reliability.png (${source})\n`);
    return 0;
  } catch (err) {
    return commandFailed('calibrate', CALIBRATE_USAGE, err, io);
  }
}
