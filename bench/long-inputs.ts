// Memory and time of one (query, passage) pair at 512, 2,048 and 8,192 tokens: what MAX_LEN costs on a long-position
// model. The model is a seeded random XLM-R with 8,194 positions (hidden 256, 4 layers, 4 heads: small, so that the
// attention's share shows), built and exported by scripts/modelkit/families.py --long-bench (transformers + torch);
// each length runs in its own process (bench/lib/long-run.ts): a bare onnxruntime session, CPU, 2 intra-op threads,
// median of RUNS runs after a warm-up, and that process's peak RSS.
// Usage: npm run bench -- long-inputs [--runs 3] [--out FILE]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : dflt;
};
const runs = opt('--runs', '3');
const out = opt('--out', `bench/results/${new Date().toISOString().slice(0, 10)}-long-inputs.json`);
const dir = mkdtempSync(path.join(os.tmpdir(), 'ko-rerank-long-'));
try {
  execFileSync('scripts/.venv/bin/python', ['-m', 'scripts.modelkit.families', dir, '--long-bench'], {
    env: { ...process.env, PYTHONPATH: '.', PYTHONWARNINGS: 'ignore' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const onnx = path.join(dir, 'xlmr-long/onnx/model.onnx');
  const rows = [512, 2048, 8192].map((len) => {
    const line = execFileSync(process.execPath, ['--import', 'tsx', 'bench/lib/long-run.ts', onnx, String(len), runs], {
      encoding: 'utf8',
    });
    const row = JSON.parse(line.trim().split('\n').pop()!);
    console.log(JSON.stringify(row));
    return row;
  });
  const result = {
    suite: 'long-inputs',
    date: new Date().toISOString(),
    model:
      'seeded random XLM-R, 8,194 positions, hidden 256, 4 layers, 4 heads, vocab 8,002; fp32 ONNX (scripts/export_onnx.py)',
    setup: `bare onnxruntime-node session, CPU, intraOpNumThreads 2, one pair per run, median of ${runs} after a warm-up; ${os.cpus().length} x ${os.cpus()[0]?.model}`,
    rows,
  };
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(`wrote ${out}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
