// The production inference worker (src/backend/onnx-worker.ts) with a fault handler in front of it. This listener is
// registered first, so it sees each message before the worker does; the worker ignores the fault messages.
import { parentPort } from 'node:worker_threads';
import type { RunMessage, StartedMessage } from '../../src/backend/protocol.ts';
import type { FaultMessage } from './faults.ts';

let hangNext = false;
/** Spins in this thread's event loop: nothing else runs here, no message is handled, until the thread is terminated. */
function spin(): never {
  for (;;) {
    // busy
  }
}
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
    // The thread hangs now, while idle: a busy loop in its event loop.
    if (kind === 'hang-idle') setImmediate(spin);
  } else if (msg.type === 'run' && hangNext) {
    // Hangs inside the run the way a session.run stuck in native code does (the worker says the run started, as the
    // production worker does just before session.run): no message is handled any more.
    parentPort!.postMessage({ type: 'started', id: (msg as RunMessage).id } satisfies StartedMessage);
    spin();
  }
});

await import('../../src/backend/onnx-worker.ts');
