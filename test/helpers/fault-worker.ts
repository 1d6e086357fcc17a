// The production inference worker (src/backend/onnx-worker.ts) with a fault handler in front of it. This listener is
// registered first, so it sees each message before the worker does; the worker ignores the fault messages.
import { parentPort } from 'node:worker_threads';
import type { FaultMessage } from './faults.ts';

let hangNext = false;
parentPort!.on('message', (msg: FaultMessage | { type: string }) => {
  if (msg.type === 'fault') {
    const { kind } = msg as FaultMessage;
    if (kind === 'exit') process.exit(3);
    if (kind === 'crash') {
      setImmediate(() => {
        throw new Error('injected crash (fault injection)');
      });
    }
    if (kind === 'hang') hangNext = true;
  } else if (msg.type === 'run' && hangNext) {
    // Blocks this thread the way a session.run stuck in native code does: no message is handled any more.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  }
});

await import('../../src/backend/onnx-worker.ts');
