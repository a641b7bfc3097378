// One contender's server, in a process of its own: `node server.mjs <library> <store>`,
// where library is express-session, sess or none (the ceiling: Express with no session).
// Prints `listening <port>` once ready. Routes:
//   GET /read    workloads 1 and 4: read the session (returning visitor)
//   GET /write   workload 2: change the session on every request
//   GET /new     workload 3: a first request that creates a session
//   POST /seed?kb=N  creates a session (with N KB of data) and returns its cookie
//   GET /ops     store operations so far (counted at the store), and requests served
//   GET /hold    reads the session, then keeps the response open until POST /release
//   GET /heap    heap and resident memory (after a full GC when started with
//                --expose-gc, unless ?gc=0), and how many responses /hold keeps
import express from 'express';
import { counted, cpuMicros, middleware, newCounters, openStore } from './contenders.mjs';

const [library = 'none', storeName = 'memory'] = process.argv.slice(2);
const counters = newCounters();
let served = 0;
let open = 0;
let pending = { count: 0 };
const app = express();
app.disable('x-powered-by');
app.disable('etag');

// Registered before the session middleware: reading the counters costs no store operation.
// `busy`: requests not yet closed plus store calls not yet answered; the runner waits
// for 0 after a load, so every request it counts has made its store calls.
app.get('/ops', (_req, res) =>
  res.json({ ...counters, requests: served, cpu: cpuMicros(), busy: open + pending.count }),
);

// In-flight requests for the memory report: /hold parks its response here.
const held = [];
app.get('/heap', (req, res) => {
  if (req.query.gc !== '0' && typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
  const { heapUsed, rss } = process.memoryUsage();
  res.json({ heapUsed, rss, held: held.length });
});
app.post('/release', (_req, res) => {
  const parked = held.splice(0);
  for (const one of parked) one.json({ ok: true });
  res.json({ released: parked.length });
});

// Requests are counted here, not by autocannon: the ones still in flight when
// a load stops were served (and cost store operations) but are not in its total.
app.use((_req, res, next) => {
  served += 1;
  open += 1;
  res.once('close', () => {
    open -= 1;
  });
  next();
});

let closeStore = async () => undefined;
if (library !== 'none') {
  const opened = await openStore(library, storeName, `bench_${process.pid}`);
  closeStore = opened.close;
  const wrapped = counted(opened.store, counters);
  pending = wrapped.pending;
  app.use(middleware(library, wrapped.store));
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

app.get('/hold', (req, res) => {
  // Read like workload 1 does; the response waits for POST /release.
  res.locals.user = session(req).user ?? null;
  held.push(res);
});

// Each new session logs in a user of its own (10,000 of them, in turn), so the
// `+users` variants index sessions the way logins spread over real users.
let visitors = 0;
app.get('/new', (req, res) => {
  session(req).user = `visitor-${visitors++ % 10_000}`;
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

// A failing backend is reported once per distinct message, not once per request.
const reported = new Set();
app.use((error, _req, res, _next) => {
  const message = `${error?.name ?? 'Error'}: ${String(error?.message ?? error).slice(0, 200)}`;
  if (!reported.has(message)) {
    reported.add(message);
    console.error(`[${library}/${storeName}] request failed: ${message}`);
  }
  res.status(500).end();
});

const server = app.listen(0, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
server.keepAliveTimeout = 30_000;

async function shutdown() {
  server.close();
  server.closeAllConnections();
  // Let store calls of requests already running finish before the store closes:
  // wait (bounded) until none has been pending for 100 ms (a get is followed by a touch).
  for (let waited = 0, quiet = 0; quiet < 100 && waited < 10_000; waited += 20) {
    await new Promise((r) => setTimeout(r, 20));
    quiet = pending.count > 0 ? 0 : quiet + 20;
  }
  await closeStore().catch(() => undefined);
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
