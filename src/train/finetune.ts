// `ko-rerank finetune`: from the seed's JSONL to a served, calibrated, evaluated model. Trains in Python
// (scripts/train/train.py: transformers + PyTorch, FlagEmbedding's reranker recipe), exports the checkpoint with the
// export path (scripts/export_onnx.py, fp32: batch-independent), evaluates the base and the result on the held-out
// split through the serving engine (the eval command's metrics), fits the calibration on the result's held-out
// scores, and writes the model card.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readModelDir } from '../backend/model-dir.ts';
import { UsageError, type EvalIO } from '../eval/command.ts';
import { commandFailed, dataFormat, fitCalibration, parseArgs, positiveInt } from './calibrate.ts';
import { metricsJson, scoreHeldOut, type HeldOutOptions, type HeldOutResult } from './heldout.ts';
import { EXPORT_SCRIPT, TRAIN_DIR, pythonPath, runPython } from './python.ts';

export const FINETUNE_USAGE = `usage: ko-rerank finetune --base DIR --data FILE --out DIR [options]

Fine-tunes a cross-encoder reranker on your data with the seed's recipe (FlagEmbedding's reranker training), then
exports it (OUT/model, served as is: MODEL_DIR=OUT/model), evaluates base and result on the held-out split with the
eval command's metrics, fits a calibration (normalize: "calibrated") and writes the model card (OUT/model/README.md).
Needs the Python of \`npm run setup:train\` (PyTorch + transformers). docs/finetune.md.

  --base DIR             Hugging Face model directory to start from (models/ko-reranker-small: the embedded model)
  --data FILE            JSONL {"query","pos":[...],"neg":[...]} or CSV/TSV (query, passage columns)
  --out DIR              writes DIR/checkpoint (Hugging Face), DIR/model (served), DIR/training (logs, checkpoints)
  --eval FILE            held-out queries (default: a seeded 10% slice of --data, at most 1000 queries)
  --corpus FILE          more passages for negatives and for the held-out candidates (repeatable)
  --format F, --query-column NAME, --passage-column NAME   as \`ko-rerank eval\`
  --epochs N             (default 3)        --max-steps N      optimizer steps, overrides --epochs
  --lr X                 (default 5e-6)     --batch-size N     groups per forward pass (default 1)
  --grad-accum N         (default 32)       --train-group-size N  1 positive + N-1 negatives (default 3)
  --max-len N            (default 512)      --weight-decay X   (default 0.01)   --warmup-ratio X (default 0.1)
  --device D             auto | cpu | cuda (default auto; fp16/bf16 on CUDA, fp32 on CPU)
  --precision P          auto | fp32 | fp16 | bf16
  --eval-steps N         held-out MRR (PyTorch, --eval-queries queries) every N steps, for the card's plot
  --eval-queries N       (default 200)      --save-steps N     resumable checkpoint every N steps
  --resume               continue an interrupted run in --out (a finished training is not repeated)
  --top-k N              BM25 candidates per held-out query; MRR@N (default 20)
  --contexts N           has-right-in-contexts = hit@N (default 3)
  --eval-limit N         the first N held-out queries only, in the before/after table and the calibration
  --seed N, --hard-pool N, --threads N, --log-every N   see scripts/train/train.py --help
  --no-before            skip exporting and evaluating the base (the table shows BM25 and the result only)
  --python PATH          the Python (default KO_RERANK_PYTHON, scripts/.venv, python3)
  -h, --help             this text`;

/** Flags of train.py that take a value, passed through as given. */
const TRAINER_VALUE_FLAGS = [
  '--epochs',
  '--max-steps',
  '--lr',
  '--learning-rate',
  '--batch-size',
  '--grad-accum',
  '--train-group-size',
  '--max-len',
  '--weight-decay',
  '--warmup-ratio',
  '--max-grad-norm',
  '--device',
  '--precision',
  '--eval-steps',
  '--eval-queries',
  '--eval-fraction',
  '--eval-max-queries',
  '--save-steps',
  '--keep-checkpoints',
  '--checkpoint-dir',
  '--seed',
  '--hard-pool',
  '--threads',
  '--log-every',
  '--probe-groups',
  '--eval-batch',
];
const OWN_VALUE_FLAGS = [
  '--base',
  '--data',
  '--out',
  '--eval',
  '--corpus',
  '--format',
  '--query-column',
  '--passage-column',
  '--top-k',
  '--contexts',
  '--eval-limit',
  '--python',
];

interface Evaluation {
  how: string;
  bm25: ReturnType<typeof metricsJson>;
  before?: ReturnType<typeof metricsJson> & { model: string; seconds: number };
  after: ReturnType<typeof metricsJson> & { model: string; seconds: number };
}

function table(ev: Evaluation, topK: number, contexts: number): string {
  const rows: [string, ReturnType<typeof metricsJson>][] = [['BM25 alone', ev.bm25]];
  if (ev.before) rows.push(['before (base)', ev.before]);
  rows.push(['after (fine-tuned)', ev.after]);
  const lines = [
    `| | has-right-in-contexts (hit@${contexts}) | MRR@${topK} | hit@1 | hit@5 | nDCG@10 | queries |`,
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [name, m] of rows) {
    const v = [m.has_right_in_contexts, m.mrr, m.hit_at_1, m.hit_at_5, m.ndcg_at_10].map((x) => x.toFixed(3));
    lines.push(`| ${name} | ${v.join(' | ')} | ${m.queries} |`);
  }
  return lines.join('\n');
}

export async function runFinetune(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  io: EvalIO = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  try {
    const args = parseArgs(
      argv,
      new Set([...OWN_VALUE_FLAGS, ...TRAINER_VALUE_FLAGS]),
      new Set(['--resume', '--no-before']),
    );
    if (args.flags.has('--help')) {
      io.stdout.write(`${FINETUNE_USAGE}\n`);
      return 0;
    }
    if (args.rest.length > 0) throw new UsageError(`unknown argument ${JSON.stringify(args.rest[0])}`);
    const one = (f: string) => args.values.get(f)?.at(-1);
    const base = one('--base');
    const data = one('--data');
    const out = one('--out');
    if (!base || !data || !out) throw new UsageError('--base DIR, --data FILE and --out DIR are required');
    if (!existsSync(data)) throw new UsageError(`--data ${data}: no such file`);
    const evalFile = one('--eval');
    if (evalFile !== undefined && !existsSync(evalFile)) throw new UsageError(`--eval ${evalFile}: no such file`);
    const topK = positiveInt('--top-k', one('--top-k'), 20)!;
    const contexts = positiveInt('--contexts', one('--contexts'), 3)!;
    if (contexts > topK) throw new UsageError(`--contexts (${contexts}) must not exceed --top-k (${topK})`);
    const limit = positiveInt('--eval-limit', one('--eval-limit'));
    const format = dataFormat(one('--format'));
    const corpus = args.values.get('--corpus') ?? [];
    const python = pythonPath(env, one('--python'));
    const threads = positiveInt('--threads', one('--threads'));
    // Settings of the engine that scores the held-out split: the fp32 file, CPU threads as asked.
    // The engine on the CPU unless training was asked to use CUDA (then DEVICE=auto: CUDA where the provider is).
    const serverArgs = [
      '--model-file',
      'model.onnx',
      '--device',
      one('--device') === 'cuda' ? 'auto' : 'cpu',
      ...(threads ? ['--intra-op-threads', String(threads)] : []),
    ];

    // 1. Train.
    const trainArgs = [path.join(TRAIN_DIR, 'train.py'), '--base', base, '--data', data, '--out', out];
    if (evalFile) trainArgs.push('--eval', evalFile);
    for (const c of corpus) trainArgs.push('--corpus', c);
    for (const f of ['--format', '--query-column', '--passage-column', '--top-k', '--contexts'])
      if (one(f) !== undefined) trainArgs.push(f, one(f)!);
    for (const f of TRAINER_VALUE_FLAGS) for (const v of args.values.get(f) ?? []) trainArgs.push(f, v);
    if (args.flags.has('--resume')) trainArgs.push('--resume');
    await runPython(python, trainArgs, 'training (scripts/train/train.py)');

    const checkpoint = path.join(out, 'checkpoint');
    const modelDir = path.join(out, 'model');
    const work = path.join(out, 'training');

    // 2. Export: the served directory (fp32 ONNX, tokenizer, config).
    await runPython(python, [EXPORT_SCRIPT, checkpoint, '--out', modelDir], 'export (scripts/export_onnx.py)');
    readModelDir(modelDir, 'model.onnx'); // served as it is, or say why not

    // 3. Before/after on the held-out split, through the engine.
    const heldout = path.join(work, 'heldout.jsonl');
    const hasHeldOut = existsSync(heldout) && readFileSync(heldout, 'utf8').trim() !== '';
    let evaluation: Evaluation | undefined;
    let after: HeldOutResult | undefined;
    if (hasHeldOut) {
      const opts: HeldOutOptions = {
        data: heldout,
        corpus: [...corpus, data],
        ...(format ? { corpusFormats: { [data]: format } } : {}),
        topK,
        contexts,
        limit,
        concurrency: 4,
        queryColumn: one('--query-column'),
        passageColumn: one('--passage-column'),
      };
      let before: HeldOutResult | undefined;
      if (!args.flags.has('--no-before')) {
        const baseModel = path.join(work, 'base-model');
        await runPython(python, [EXPORT_SCRIPT, base, '--out', baseModel], 'export of the base');
        try {
          io.stderr.write(`evaluating the base (${baseModel}) on ${heldout}\n`);
          before = await scoreHeldOut(baseModel, opts, serverArgs, env, io.stderr);
        } finally {
          rmSync(baseModel, { recursive: true, force: true });
        }
      }
      io.stderr.write(`evaluating ${modelDir} on ${heldout}\n`);
      after = await scoreHeldOut(modelDir, opts, serverArgs, env, io.stderr);
      const round = (x: number) => Number(x.toFixed(1));
      evaluation = {
        how:
          `${after.queries} held-out queries (${heldout}); candidates: BM25 top-${topK} over ${after.passages} passages ` +
          `(character bigrams), reranked by the fp32 ONNX export through the serving engine, as ` +
          `\`ko-rerank eval --data ${heldout} --corpus ${data} --model-dir DIR --model-file model.onnx\` does.`,
        bm25: metricsJson(after.bm25),
        ...(before ? { before: { ...metricsJson(before.reranked), model: base, seconds: round(before.seconds) } } : {}),
        after: { ...metricsJson(after.reranked), model: modelDir, seconds: round(after.seconds) },
      };
      writeFileSync(path.join(work, 'evaluation.json'), `${JSON.stringify(evaluation, null, 1)}\n`);

      // 4. Calibration on the result's held-out scores.
      await fitCalibration(
        python,
        after,
        `${after.queries} held-out queries, BM25 top-${topK} each, scored by the fp32 ONNX export`,
        path.join(modelDir, 'calibration.json'),
        undefined,
      );
      readModelDir(modelDir, 'model.onnx');
    } else io.stderr.write('no held-out split: no before/after table and no calibration\n');

    // 5. The model card.
    const cardArgs = ['-m', 'korerank_train.card', '--log', path.join(work, 'log.json'), '--model-dir', modelDir];
    if (evaluation) cardArgs.push('--evaluation', path.join(work, 'evaluation.json'));
    if (existsSync(path.join(modelDir, 'calibration.json')))
      cardArgs.push('--calibration', path.join(modelDir, 'calibration.json'));
    await runPython(python, cardArgs, 'model card');

    if (evaluation) io.stdout.write(`${table(evaluation, topK, contexts)}\n\n`);
    io.stdout.write(
      `served model: ${modelDir} (card: ${path.join(modelDir, 'README.md')}); Hugging Face checkpoint: ${checkpoint}\n` +
        `serve it: MODEL_DIR=${modelDir} npx ko-rerank${after ? '   (normalize: "calibrated" answers P(relevant))' : ''}\n`,
    );
    return 0;
  } catch (err) {
    return commandFailed('finetune', FINETUNE_USAGE, err, io);
  }
}
