// Slow and silent clients: Node's timeouts on the listening server, our JSON shape for the 408 it answers, and the
// early-response rule. A request answered before its body arrived (401, 413, 415, shutting_down) has the rest of
// its body read and thrown away for at most EARLY_RESPONSE_LINGER_MS, so an honest client that is still sending
// reads the answer instead of a reset (closing at once would RST the socket under its unread bytes); a client still
// trickling after that is cut off.
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';

/** How long the rest of a body answered early may keep arriving before the connection is closed. */
export const EARLY_RESPONSE_LINGER_MS = 3000;

/** How often Node checks HEADERS_TIMEOUT_MS / BODY_TIMEOUT_MS (its default is every 30 s). */
const CHECK_INTERVAL_MS = 1000;

/** The Fastify server options for the timeouts. */
export function connectionOptions(config: Config) {
  return {
    http: { connectionsCheckingInterval: Math.min(CHECK_INTERVAL_MS, config.headersTimeoutMs, config.bodyTimeoutMs) },
    requestTimeout: config.bodyTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // We answer 503 shutting_down ourselves during the drain (src/http/shutdown.ts), in our shape.
    return503OnClosing: false,
    clientErrorHandler,
  };
}

function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, type, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [
          408,
          'timeout',
          'the request was not received in time (HEADERS_TIMEOUT_MS / BODY_TIMEOUT_MS): connection closed',
        ]
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'bad_request', 'request headers too large']
        : [400, 'bad_request', 'malformed HTTP request'];
  // Nothing written on this socket yet (a request still being received has no response started).
  if (socket.writable && socket.bytesWritten === 0) {
    const body = JSON.stringify({ error: { type, message } });
    // end(), not write() + destroy(): destroy would drop the answer if it is not flushed yet.
    socket.end(
      `HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    setTimeout(() => socket.destroy(), 1000).unref();
    return;
  }
  socket.destroy(err);
}

/** Header timeout and connection cap (not Fastify options), and the early-response linger. */
export function installConnectionLimits(app: FastifyInstance, config: Config): void {
  app.server.headersTimeout = config.headersTimeoutMs;
  app.server.maxConnections = config.maxConnections;
  app.addHook('onResponse', async (request) => {
    const req = request.raw;
    // (inject() has no real socket.)
    if (req.complete || !req.socket || req.socket.destroyed || typeof req.socket.destroy !== 'function') return;
    // Node reads and discards the rest of the body after the response; bound how long that may take.
    const socket = req.socket;
    const timer = setTimeout(() => {
      if (!req.complete) socket.destroy();
    }, EARLY_RESPONSE_LINGER_MS);
    timer.unref();
    req.once('end', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
  });
}
