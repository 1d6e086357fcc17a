// Slow and silent clients: Node's timeouts on the listening server, our JSON shape for the 408 it answers, and the
// early-response rule. A request answered before its body arrived (401, 413, 415, 429, shutting_down) gets
// `Connection: close`, and the connection is closed gracefully (lingering close, as nginx does): the answer is sent
// with a FIN, the rest of the body is read and thrown away, and the socket closes once the client is done. Closing at
// once would reset the connection under the client's unread bytes, and a client that sends its whole body before it
// reads (Python's http.client, requests) would see ECONNRESET instead of the answer. The rest must keep arriving at
// EARLY_RESPONSE_MIN_BYTES_PER_S (after EARLY_RESPONSE_LINGER_MS of grace): a client trickling it is cut off.
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';

/** Grace for the rest of a body answered early, on top of its bytes at EARLY_RESPONSE_MIN_BYTES_PER_S. */
export const EARLY_RESPONSE_LINGER_MS = 3000;
/** The slowest the rest of a body answered early may arrive (1 MiB/s: 100 MB in 100 s, a trickler is cut in 3 s). */
export const EARLY_RESPONSE_MIN_BYTES_PER_S = 1024 * 1024;

/** How long the rest of a body of `contentLength` bytes (unknown when chunked) may take once it is answered early. */
export const earlyResponseLingerMs = (contentLength: number | undefined) =>
  EARLY_RESPONSE_LINGER_MS + ((contentLength ?? 0) / EARLY_RESPONSE_MIN_BYTES_PER_S) * 1000;

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

const hasBody = (headers: IncomingHttpHeaders) =>
  Number(headers['content-length'] ?? 0) > 0 || headers['transfer-encoding'] !== undefined;

/** Header timeout and connection cap (not Fastify options), and the early-response linger. */
export function installConnectionLimits(app: FastifyInstance, config: Config): void {
  app.server.headersTimeout = config.headersTimeoutMs;
  app.server.maxConnections = config.maxConnections;
  app.addHook('onSend', async (request, reply, payload) => {
    const req = request.raw;
    // (inject() has no real socket.)
    if (req.complete || !hasBody(req.headers) || !req.socket || typeof req.socket.destroy !== 'function')
      return payload;
    // Answered before its body arrived: no further request on this connection.
    reply.header('connection', 'close');
    // For a Connection: close answer Node calls socket.destroySoon(), which destroys the socket once the answer is
    // written, under the body still arriving (a reset). socket.end() instead: the answer, a FIN, and the rest of the
    // body is still read (and thrown away: Node dumps an unread request body); the socket closes when the client
    // closes its side, or when the linger below runs out.
    const socket = req.socket;
    socket.destroySoon = () => void socket.end();
    return payload;
  });
  app.addHook('onResponse', async (request) => {
    const req = request.raw;
    if (req.complete || !req.socket || req.socket.destroyed || typeof req.socket.destroy !== 'function') return;
    const socket = req.socket;
    const length = Number(req.headers['content-length']);
    const timer = setTimeout(
      () => {
        if (!req.complete) socket.destroy();
      },
      earlyResponseLingerMs(Number.isFinite(length) ? length : undefined),
    );
    timer.unref();
    req.once('end', () => {
      clearTimeout(timer);
      // The whole body is read and our side is closed: a client that keeps its side open is not waited for.
      if (socket.writableEnded) setTimeout(() => socket.destroy(), 1000).unref();
    });
    socket.once('close', () => clearTimeout(timer));
  });
}
