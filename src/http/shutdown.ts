// Closing the listener without losing a request. It closes once new connections have stopped (quiet()), or the grace
// runs out. Node's http Server.close() (and Fastify's close()) first destroys
// every connection that has no request in progress, which includes a socket accepted a moment ago whose request has
// not been parsed yet: that client sees ECONNRESET with no response. Here the listener stops accepting first
// (net.Server close: new connections are refused, which clients retry elsewhere), the sockets already open get
// `lingerMs` to send their request (answered 503 shutting_down with Connection: close during the drain) or to
// close, then the idle ones are closed, and the busy ones get `lingerMs` more to finish their response.
import { Server as NetServer } from 'node:net';
import type { Server } from 'node:http';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

function openConnections(server: Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((err, n) => resolve(err ? 0 : n)));
}

async function waitForNone(server: Server, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  for (;;) {
    if ((await openConnections(server)) === 0) return true;
    if (performance.now() >= end) return false;
    await sleep(20);
  }
}

/**
 * Stops accepting at a moment the kernel's accept queue is most likely empty. Closing a listening socket resets the
 * connections the kernel completed but Node has not accepted yet; libuv accepts until the queue is empty each time
 * the socket is readable, so right after a 'connection' event (in the check phase that follows that poll) the
 * queue is empty but for what arrived in the last fraction of a millisecond. No connection within 50 ms: nobody is
 * connecting, close now.
 */
async function stopAccepting(server: Server): Promise<void> {
  if (!server.listening) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, 50);
    function done() {
      clearTimeout(timer);
      server.off('connection', onConnection);
      resolve();
    }
    function onConnection() {
      server.off('connection', onConnection);
      setImmediate(done);
    }
    server.on('connection', onConnection);
  });
  NetServer.prototype.close.call(server);
}

/**
 * Waits until no new connection has arrived for `quietMs` (the load balancer or the Service has stopped sending
 * this pod traffic), at most `maxMs`. A listener closed while clients still connect resets what the kernel queued.
 */
export async function quiet(server: Server, quietMs: number, maxMs: number): Promise<boolean> {
  let last = performance.now();
  const onConnection = () => (last = performance.now());
  server.on('connection', onConnection);
  const end = last + maxMs;
  try {
    for (;;) {
      const now = performance.now();
      if (now - last >= quietMs) return true;
      if (now >= end) return false;
      await sleep(Math.min(quietMs - (now - last), end - now, 50));
    }
  } finally {
    server.off('connection', onConnection);
  }
}

/**
 * Resolves once no connection is left open; never resets a socket that is being answered within 2 x lingerMs.
 * Call quiet() first where time allows.
 */
export async function closeListener(server: Server, lingerMs: number): Promise<void> {
  await stopAccepting(server);
  if (await waitForNone(server, lingerMs)) return;
  server.closeIdleConnections();
  if (await waitForNone(server, lingerMs)) return;
  server.closeAllConnections();
}
