// Credentials never reach the logs: a key in the query string (?api_key=...), in Authorization or
// in X-API-Key is absent from every log line of the real process (LOG_LEVEL=debug), from /metrics and from the error
// messages, while the logged URL still names the query parameters that were sent.
import t from 'tap';
import { spawnServer } from '../helpers/process.ts';
import { redactUrl } from '../../src/http/log-redact.ts';

const KEY = 'kr-live-7d1f00c4e1b2';
const SECRETS = ['qs-secret-91ab', 'qs-secret-22cd', 'hdr-secret-5e7f', 'wrong-key-0a0b', KEY];

t.test('redactUrl keeps the path and the names, drops every value', async (t) => {
  t.equal(redactUrl('/rerank'), '/rerank');
  t.equal(redactUrl('/rerank?api_key=abc&x=1&flag'), '/rerank?api_key=[redacted]&x=[redacted]&flag=[redacted]');
  t.equal(redactUrl('/a?'), '/a?');
});

t.test('no key appears in the logs, the metrics or an error message of the real server', async (t) => {
  const p = await spawnServer({ API_KEYS: KEY, LOG_LEVEL: 'debug' });
  t.teardown(() => p.kill());
  const body = JSON.stringify({ query: '수도는?', passages: ['서울은 수도이다.', '김치'] });
  const send = (path: string, headers: Record<string, string>) =>
    fetch(p.base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }).then(
      async (r) => ({
        status: r.status,
        text: await r.text(),
      }),
    );
  const ok = await send('/rerank?api_key=qs-secret-91ab&token=qs-secret-22cd', { authorization: `Bearer ${KEY}` });
  t.equal(ok.status, 200);
  const noKey = await send('/rerank?api_key=qs-secret-91ab', { 'x-api-key': 'hdr-secret-5e7f' });
  t.equal(noKey.status, 401);
  const wrong = await send('/rerank?access_token=qs-secret-22cd', { authorization: 'Bearer wrong-key-0a0b' });
  t.equal(wrong.status, 401);
  const missing = await send('/nope?api_key=qs-secret-91ab', { authorization: `Bearer ${KEY}` });
  t.equal(missing.status, 404);
  const metrics = await fetch(p.base + '/metrics').then((r) => r.text());
  await new Promise((r) => setTimeout(r, 300));
  const log = p.log();
  t.match(
    log,
    /"url":"\/rerank\?api_key=\[redacted\]&token=\[redacted\]"/,
    'the access log shows which parameters were sent',
  );
  for (const s of SECRETS) {
    t.notOk(log.includes(s), `${s} is not in the log`);
    t.notOk(metrics.includes(s), `${s} is not in /metrics`);
    for (const r of [ok, noKey, wrong, missing]) t.notOk(r.text.includes(s), `${s} is not in a response`);
  }
});
