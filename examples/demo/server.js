// `pnpm demo` from the repository root runs this: the demo on the embedded SQLite store.
//   PORT (default 3000), SESS_DEMO_DB (default ./sessions.db), SESSION_SECRET (default: one
//   generated on first start and kept in .demo-secret, so a restart logs nobody out).
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { SqliteStore } from '@sess/store-sqlite';
import { createApp, USERS } from './app.js';

const port = Number(process.env.PORT ?? 3000);
const store = new SqliteStore({
  filename: process.env.SESS_DEMO_DB ?? './sessions.db',
  users: USERS, // the "your sessions" page
});

function secret() {
  if (process.env.SESSION_SECRET) return process.env.SESSION_SECRET;
  const file = new URL('./.demo-secret', import.meta.url);
  if (!existsSync(file))
    writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

const server = createApp({ store, secret: secret() }).listen(port, '127.0.0.1', () => {
  console.log(`sess demo on http://127.0.0.1:${server.address().port} (SQLite store)`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close(() => store.close().then(() => process.exit(0)));
    server.closeAllConnections();
  });
}
