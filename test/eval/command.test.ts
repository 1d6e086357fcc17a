// The eval command: arguments, progress bar, and an end-to-end run on the fixture against the real server
// (--url) and in-process; both must give the same table.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { evaluate, mapConcurrent, parseEvalArgs, Progress, runEval, type Output } from '../../src/eval/command.ts';
import type { Reranker } from '../../src/eval/rerankers.ts';
import { startServer, TINY_MODEL_DIR } from '../helpers/server.ts';

const FIXTURE = 'test/fixtures/eval-small.jsonl';

function capture(isTTY = false): Output & { text: string } {
  const out = {
    text: '',
    isTTY,
    columns: 100,
    write(chunk: string) {
      out.text += chunk;
      return true;
    },
  };
  return out;
}

/** The environment the test server gets: CPU unless DEVICE says otherwise, MODEL_DIR / MODEL_FILE passed on. */
function modelEnv(): Record<string, string | undefined> {
  return {
    DEVICE: process.env.DEVICE ?? 'cpu',
    MODEL_DIR: process.env.MODEL_DIR ?? TINY_MODEL_DIR,
    MODEL_FILE: process.env.MODEL_FILE,
  };
}

t.test('arguments: defaults, values, server settings passed on, errors', async (t) => {
  const o = parseEvalArgs(['--data', 'x.jsonl']);
  t.match(o, {
    data: 'x.jsonl',
    topK: 20,
    contexts: 3,
    terms: 'bigrams',
    concurrency: 8,
    rerank: true,
    json: false,
    limit: undefined,
    configArgs: [],
  });
  const p = parseEvalArgs([
    '--data=x.csv',
    '--top-k',
    '50',
    '--contexts=5',
    '--terms',
    'words',
    '--limit',
    '9',
    '--json',
    '--no-rerank',
    '--device',
    'cpu',
    '--model-file=model_quantized.onnx',
    '--url',
    'http://127.0.0.1:8080',
  ]);
  t.match(p, {
    data: 'x.csv',
    topK: 50,
    contexts: 5,
    terms: 'words',
    limit: 9,
    json: true,
    rerank: false,
    url: 'http://127.0.0.1:8080',
  });
  t.same(p.configArgs, ['--device', 'cpu', '--model-file=model_quantized.onnx']);
  t.equal(parseEvalArgs(['--help']).help, true, '--help needs no --data');
  t.throws(() => parseEvalArgs([]), /--data FILE is required/);
  t.throws(() => parseEvalArgs(['--data', 'x', '--top-k', '0']), /--top-k expects a positive integer/);
  t.throws(() => parseEvalArgs(['--data', 'x', '--top-k', '2']), /--contexts \(3\) must not exceed --top-k \(2\)/);
  t.throws(() => parseEvalArgs(['--data', 'x', '--terms', 'morphemes']), /--terms expects bigrams or words/);
  t.throws(() => parseEvalArgs(['--data', 'x', '--url', 'localhost:8080']), /--url expects an http\(s\) URL/);
  t.throws(() => parseEvalArgs(['--data']), /--data needs a value/);
  t.throws(() => parseEvalArgs(['--data', 'x', 'extra']), /unexpected argument "extra"/);
});

t.test('exit status 2 on usage and setting errors, 1 on a missing file', async (t) => {
  const err = capture();
  t.equal(await runEval(['--data', FIXTURE, '--device', 'tpu'], {}, { stdout: capture(), stderr: err }), 2);
  t.match(err.text, /DEVICE/);
  const err2 = capture();
  t.equal(await runEval(['--data', FIXTURE, '--frobnicate', '1'], {}, { stdout: capture(), stderr: err2 }), 2);
  t.match(err2.text, /unknown flag --frobnicate/);
  const err3 = capture();
  t.equal(await runEval(['--data', 'no/such/file.jsonl', '--no-rerank'], {}, { stdout: capture(), stderr: err3 }), 1);
  t.match(err3.text, /cannot read no\/such\/file\.jsonl/);
  const err4 = capture();
  t.equal(
    await runEval(
      ['--data', FIXTURE, '--url', 'http://127.0.0.1:9', '--device', 'cpu'],
      {},
      { stdout: capture(), stderr: err4 },
    ),
    2,
  );
  t.match(err4.text, /server settings \(--device\) apply in-process only/);
  const err5 = capture();
  t.equal(
    await runEval(['--data', FIXTURE, '--no-rerank', '--model-dri', 'x'], {}, { stdout: capture(), stderr: err5 }),
    2,
    'a mistyped setting fails even without a reranker',
  );
  t.match(err5.text, /unknown flag --model-dri/);
  // A port that was free a moment ago: nothing listens there.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const err6 = capture();
  t.equal(
    await runEval(['--data', FIXTURE, '--url', `http://127.0.0.1:${port}`], {}, { stdout: capture(), stderr: err6 }),
    1,
    'nothing listens',
  );
  t.match(err6.text, new RegExp(`POST http://127\\.0\\.0\\.1:${port}/rerank failed: .*ECONNREFUSED`));
});

t.test('the progress bar draws only on a TTY', async (t) => {
  const tty = capture(true);
  const bar = new Progress(tty, 3, 'reranking');
  bar.tick();
  bar.tick();
  bar.tick();
  bar.end();
  t.match(tty.text, /\rreranking \[#+\] 3\/3 /);
  t.ok(tty.text.endsWith('\r\x1b[K'), 'the line is cleared at the end');
  const pipe = capture(false);
  const quiet = new Progress(pipe, 3, 'reranking');
  quiet.tick();
  quiet.end();
  t.equal(pipe.text, '');
});

t.test('mapConcurrent keeps input order, bounds concurrency and stops on the first error', async (t) => {
  let inFlight = 0;
  let most = 0;
  const out = await mapConcurrent([5, 1, 4, 2, 3], 2, async (x) => {
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, x * 3));
    inFlight--;
    return x * 10;
  });
  t.same(out, [50, 10, 40, 20, 30]);
  t.equal(most, 2);
  let started = 0;
  await t.rejects(
    mapConcurrent([1, 2, 3, 4, 5, 6], 1, async (x) => {
      started++;
      if (x === 2) throw new Error('boom');
      return x;
    }),
    /boom/,
  );
  t.equal(started, 2, 'no work starts after the failure');
});

t.test('evaluate maps the reranked order back to the corpus (a fake reranker that reverses the list)', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'eval-cmd-'));
  const file = path.join(dir, 'tiny.jsonl');
  // Corpus: 0 "사과 가격은 얼마인가", 1 "바나나 가격", 2 "포도 농장", 3 "포도 농장 견학".
  writeFileSync(
    file,
    [
      JSON.stringify({ query: '사과 가격', pos: ['사과 가격은 얼마인가'], neg: ['바나나 가격', '포도 농장'] }),
      JSON.stringify({ query: '포도 농장', pos: ['포도 농장 견학'] }),
    ].join('\n'),
  );
  const seen: string[][] = [];
  const reverse: Reranker = {
    model: 'reverse',
    where: 'test',
    start: async () => {},
    close: async () => {},
    rank: async (_q, passages) => {
      seen.push([...passages]);
      return passages.map((_, i) => passages.length - 1 - i);
    },
  };
  const report = await evaluate(parseEvalArgs(['--data', file, '--top-k', '4', '--contexts', '1']), reverse);
  // BM25 top-4: q1 [0, 1, 2, 3] (doc 0 has both terms, doc 1 가격 only, 2 and 3 score 0);
  //             q2 [2, 3, 0, 1] (2 and 3 have both terms, the shorter doc 2 first).
  t.same(
    seen[0],
    ['사과 가격은 얼마인가', '바나나 가격', '포도 농장', '포도 농장 견학'],
    'the reranker gets BM25 top-k in order',
  );
  t.equal(report.first_stage.recall_at_top_k, 1);
  const [bm25, reranked] = report.rows;
  // Without: positives at ranks 1 and 2. hit@1 = 1/2, MRR = (1 + 1/2) / 2 = 0.75, hit@5 = 1,
  //          nDCG@10 = (1 + 1/log2(3)) / 2 = (1 + 0.6309298) / 2 = 0.8154649.
  t.match(bm25, { name: 'without reranker', hasRightInContexts: 0.5, mrr: 0.75, hit1: 0.5, hit5: 1, queries: 2 });
  t.ok(Math.abs(bm25!.ndcg10 - 0.8154649) < 1e-7);
  // Reversed: q1 [3, 2, 1, 0] -> positive 0 at rank 4; q2 [1, 0, 3, 2] -> positive 3 at rank 3.
  //           MRR = (1/4 + 1/3) / 2 = 0.2916667, hit@1 = 0,
  //           nDCG@10 = (1/log2(5) + 1/log2(4)) / 2 = (0.4306766 + 0.5) / 2 = 0.4653383.
  t.match(reranked, { name: 'with reranker (reverse)', hasRightInContexts: 0, hit1: 0, hit5: 1, queries: 2 });
  t.ok(Math.abs(reranked!.mrr - 0.2916667) < 1e-7);
  t.ok(Math.abs(reranked!.ndcg10 - 0.4653383) < 1e-7);
  t.match(report.reranker, { model: 'reverse', where: 'test' });
});

t.test('the CLI (bin/ko-rerank.mjs): --help, and --json on stdout only', async (t) => {
  const help = spawnSync(process.execPath, ['bin/ko-rerank.mjs', 'eval', '--help'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.equal(help.status, 0);
  t.match(help.stdout, /usage: ko-rerank eval --data FILE/);
  const run = spawnSync(process.execPath, ['bin/ko-rerank.mjs', 'eval', '--data', FIXTURE, '--no-rerank', '--json'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  t.match(report, { queries: 30, skipped: { no_positive: 1 }, corpus: { passages: 122 }, reranker: null });
  t.ok(report.first_stage.recall_at_top_k >= report.rows[0].hit_at_5, 'BM25 recall@20 bounds hit@5');
  t.same(
    report.rows.map((r: { name: string }) => r.name),
    ['without reranker'],
  );
});

t.test('end to end: --url through the running server and in-process give the same table', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const model = server.engine.model.name;

  // --url, with a TTY-like stderr: the progress bar is drawn there, never on stdout.
  const urlOut = capture();
  const urlErr = capture(true);
  t.equal(
    await runEval(
      ['--data', FIXTURE, '--url', server.base, '--json', '--concurrency', '4'],
      {},
      { stdout: urlOut, stderr: urlErr },
    ),
    0,
    urlErr.text,
  );
  t.match(urlErr.text, /reranking \[#+\] 30\/30/);
  const viaUrl = JSON.parse(urlOut.text);

  // In-process, with the test server's model settings; stderr is not a TTY, so nothing is written there.
  const inOut = capture();
  const inErr = capture(false);
  t.equal(await runEval(['--data', FIXTURE, '--json'], modelEnv(), { stdout: inOut, stderr: inErr }), 0, inErr.text);
  t.equal(inErr.text, '');
  const inProcess = JSON.parse(inOut.text);

  for (const r of [viaUrl, inProcess]) {
    t.match(r, {
      queries: 30,
      skipped: { no_positive: 1, empty_query: 0, over_limit: 0 },
      corpus: { passages: 122 },
      contexts: 3,
      first_stage: { top_k: 20, terms: 'bigrams' },
    });
    t.equal(r.reranker.model, model);
    t.same(
      r.rows.map((row: { name: string }) => row.name),
      ['without reranker', `with reranker (${model})`],
    );
    for (const row of r.rows) {
      for (const k of ['has_right_in_contexts', 'mrr', 'hit_at_1', 'hit_at_5', 'ndcg_at_10'])
        t.ok(row[k] >= 0 && row[k] <= 1, `${row.name} ${k} = ${row[k]}`);
      t.equal(row.queries, 30);
    }
  }
  t.equal(viaUrl.reranker.where, server.base);
  t.match(inProcess.reranker.where, /^in-process \((cpu|cuda)\)$/);
  const metrics = (r: { rows: Record<string, unknown>[] }) => r.rows.map(({ seconds: _s, ...m }) => m);
  t.same(metrics(viaUrl), metrics(inProcess), 'same metrics through the server and in-process');

  // The table, over the first 5 queries only.
  const table = capture();
  t.equal(
    await runEval(['--data', FIXTURE, '--url', server.base, '--limit', '5'], {}, { stdout: table, stderr: capture() }),
    0,
  );
  const lines = table.text.trim().split('\n');
  t.match(
    lines[0],
    /^data: test\/fixtures\/eval-small\.jsonl — 5 queries \(1 skipped: no positive, 25 over --limit\), 122 passages$/,
  );
  t.match(
    table.text,
    /\| \| has-right-in-contexts \(hit@3\) \| MRR@20 \| hit@1 \| hit@5 \| nDCG@10 \| queries \| seconds \|/,
  );
  t.match(lines.at(-2), /^\| without reranker \| (\d\.\d{3} \| ){5}5 \| \d+\.\d \|$/);
  t.match(
    lines.at(-1),
    new RegExp(`^\\| with reranker \\(${model}\\) \\| (\\d\\.\\d{3} \\| ){5}5 \\| \\d+\\.\\d \\|$`),
  );

  // A server error is reported, not swallowed: top-k above the server's MAX_PASSAGES.
  const small = await startServer({ maxPassages: 10 });
  t.teardown(() => small.close());
  const err = capture();
  t.equal(
    await runEval(['--data', FIXTURE, '--url', small.base, '--limit', '2'], {}, { stdout: capture(), stderr: err }),
    1,
  );
  t.match(err.text, /answered 413: .*MAX_PASSAGES=10/);
});
