// The Python side of fine-tuning (scripts/train, scripts/export_onnx.py): which interpreter, and running it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The repository (or installed package) root: src/train/ is two levels down. */
export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const TRAIN_DIR = path.join(ROOT, 'scripts', 'train');
export const EXPORT_SCRIPT = path.join(ROOT, 'scripts', 'export_onnx.py');

export class PythonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PythonError';
  }
}

/** KO_RERANK_PYTHON, else the venv `npm run setup:train` builds (scripts/.venv), else python3 on PATH. */
export function pythonPath(env: Record<string, string | undefined>, flag?: string): string {
  if (flag) return flag;
  if (env.KO_RERANK_PYTHON) return env.KO_RERANK_PYTHON;
  const venv = path.join(ROOT, 'scripts', '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

/** Runs python with args (stdout and stderr pass through: the trainer's progress bar); rejects on a non-zero exit. */
export function runPython(
  python: string,
  args: readonly string[],
  what: string,
  env: Record<string, string | undefined> = process.env,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, {
      // The child's stdout goes to our stderr: stdout stays the command's result (the table), and a test's TAP stream.
      stdio: ['ignore', 2, 2],
      env: { ...env, PYTHONPATH: [TRAIN_DIR, env.PYTHONPATH].filter(Boolean).join(path.delimiter) },
    });
    child.on('error', (err) =>
      reject(
        new PythonError(
          `${what}: cannot run ${python} (${err.message}); run \`npm run setup:train\` or set KO_RERANK_PYTHON to a Python with PyTorch and transformers`,
        ),
      ),
    );
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new PythonError(`${what} failed (${signal ? `signal ${signal}` : `exit ${code}`})`));
    });
  });
}
