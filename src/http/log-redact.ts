// What the logs may say about a request: never a credential. Query values are dropped from every logged URL (a key
// sent as ?api_key=... must not reach the access log; no route of ours reads the query string, so nothing useful is
// lost), and the headers that carry keys are redacted by path wherever a log call includes them.
import type { FastifyRequest } from 'fastify';

/** pino redact paths: the headers that carry credentials, wherever a serializer or a log call puts them. */
export const REDACT = ['authorization', 'x-api-key', 'cookie', 'proxy-authorization'].flatMap((h) =>
  ['req.headers', 'headers', 'request.headers'].map((at) => `${at}["${h}"]`),
);

/** The URL with each query value replaced by `[redacted]` (names kept, so a log still shows which were sent). */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      return eq < 0
        ? part === ''
          ? part
          : `${part.slice(0, 100)}=[redacted]`
        : `${part.slice(0, Math.min(eq, 100))}=[redacted]`;
    })
    .join('&');
  return `${url.slice(0, q)}?${query}`;
}

/** Fastify's request serializer (method, url, host, remote address) with the URL redacted. */
export const LOG_SERIALIZERS = {
  req(req: FastifyRequest) {
    return {
      method: req.method,
      url: redactUrl(req.url),
      host: req.host,
      remoteAddress: req.ip,
      remotePort: req.socket ? req.socket.remotePort : undefined,
    };
  },
};

/** The pino options of the service logger: level, credential headers redacted, URLs without query values. */
export function loggerOptions(level: string) {
  return { level, redact: REDACT, serializers: LOG_SERIALIZERS };
}
