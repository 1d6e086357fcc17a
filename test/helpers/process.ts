// Starts the real `bin/ko-rerank.mjs serve` in a child process on a free loopback port and waits for /ready.
// `args` = testServe(...) runs test/helpers/serve.ts instead, with its test-only switches.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './loopback.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ServerProcess {
  child: ChildProcess;
  base: string;
  port: number;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the process wrote to stdout and stderr so far. */
  log(): string;
  kill(): void;
}

/** The command line of the test server entry with test-only switches (`--faults`, `--length-order-batching`). */
export const testServe = (...switches: string[]) => ['--import', 'tsx', 'test/helpers/serve.ts', 'serve', ...switches];

export async function spawnServer(
  env: Record<string, string> = {},
  readyWithin = 60_000,
  args = ['bin/ko-rerank.mjs', 'serve'],
): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, args, {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), DEVICE: 'cpu', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  const base = `http://127.0.0.1:${port}`;
  const until = performance.now() + readyWithin;
  let ready = 0;
  while (ready !== 200 && performance.now() < until && child.exitCode === null) {
    await sleep(200);
    ready = await fetch(base + '/ready').then(
      (r) => r.status,
      () => 0,
    );
  }
  if (ready !== 200) {
    child.kill('SIGKILL');
    throw new Error(`server did not get ready: ${out.slice(-3000)}`);
  }
  return { child, base, port, exit, log: () => out, kill: () => void child.kill('SIGKILL') };
}
