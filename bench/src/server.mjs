// One contender's server, in a process of its own: `node server.mjs <library> <store>`,
// where library is express-session, sess or none (the ceiling: Express with no session).
// Prints `listening <port>` once ready. Routes:
//   GET /read    workloads 1 and 4: read the session (returning visitor)
//   GET /write   workload 2: change the session on every request
//   GET /new     workload 3: a first request that creates a session
//   POST /seed?kb=N  creates a session (with N KB of data) and returns its cookie
//   GET /ops     store operations so far (counted at the store)
import express from 'express';
import { counted, middleware, newCounters, openStore } from './contenders.mjs';

const [library = 'none', storeName = 'memory'] = process.argv.slice(2);
const counters = newCounters();
const app = express();
app.disable('x-powered-by');
app.disable('etag');

// Registered before the session middleware: reading the counters costs no store operation.
app.get('/ops', (_req, res) => res.json(counters));

let closeStore = async () => undefined;
if (library !== 'none') {
  const opened = await openStore(library, storeName, `bench_${process.pid}`);
  closeStore = opened.close;
  app.use(middleware(library, counted(opened.store, counters)));
}

const session = (req) => req.session ?? {};

app.get('/read', (req, res) => {
  const s = session(req);
  res.json({ user: s.user ?? null, n: s.n ?? 0 });
});

app.get('/write', (req, res) => {
  const s = session(req);
  s.n = (s.n ?? 0) + 1;
  res.json({ n: s.n });
});

app.get('/new', (req, res) => {
  session(req).user = 'visitor';
  res.json({ ok: true });
});

app.post('/seed', (req, res) => {
  const s = session(req);
  s.user = `user-${Math.random().toString(36).slice(2)}`;
  s.n = 0;
  const kb = Number(req.query.kb ?? 0);
  if (kb > 0) {
    // About `kb` KB of JSON: an array of small objects, as a real cart or profile would be.
    s.items = Array.from({ length: Math.round((kb * 1024) / 64) }, (_, i) => ({
      id: i,
      name: `item number ${i} of the session`,
      price: i * 1.25,
    }));
  }
  res.json({ ok: true });
});

const server = app.listen(0, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
server.keepAliveTimeout = 30_000;

async function shutdown() {
  server.closeAllConnections();
  server.close();
  await closeStore().catch(() => undefined);
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
