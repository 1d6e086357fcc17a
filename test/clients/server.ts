// The real server on 127.0.0.1 (a free port) with the embedded model, for the Python client tests: prints
// {"base": "http://127.0.0.1:PORT"} on one stdout line once ready, closes when stdin ends or on SIGTERM.
// `--api-key KEY` turns API keys on (API_KEYS=KEY).
import { startServer } from '../helpers/server.ts';

const i = process.argv.indexOf('--api-key');
const srv = await startServer(i >= 0 ? { apiKeys: [process.argv[i + 1]!] } : {});
process.stdout.write(`${JSON.stringify({ base: srv.base })}\n`);
let closing = false;
const close = async () => {
  if (closing) return;
  closing = true;
  await srv.close();
  process.exit(0);
};
process.stdin.on('end', close);
process.stdin.resume();
process.on('SIGTERM', close);
