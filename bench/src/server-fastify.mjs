// One Fastify contender's server, in a process of its own:
// `node server-fastify.mjs <library> <store>`, where library is
// @fastify/session, @sess/fastify or none (the ceiling: Fastify with no
// session, no cookie plugin). The same routes and answers as server.mjs
// (its Express twin), for the workloads:
//   GET /read    workloads 1 and 4: read the session (returning visitor)
//   GET /write   workload 2: change the session on every request
//   GET /new     workload 3: a first request that creates a session
//   POST /seed?kb=N  creates a session (with N KB of data) and returns its cookie
//   GET /ops     store operations so far (counted at the store), and requests served
// Prints `listening <port>` once ready.
import fastifyCookie from '@fastify/cookie';
import Fastify from 'fastify';
import { counted, cpuMicros, fastifyPlugin, newCounters, openFastifyStore } from './contenders.mjs';

const [library = 'none', storeName = 'memory'] = process.argv.slice(2);
const counters = newCounters();
let served = 0;
let open = 0;
let pending = { count: 0 };
const app = Fastify({ logger: false, keepAliveTimeout: 30_000 });

// Outside the session's context: reading the counters costs no store operation.
// `busy`: requests not yet closed plus store calls not yet answered (see server.mjs).
app.get('/ops', async () => ({
  ...counters,
  requests: served,
  cpu: cpuMicros(),
  busy: open + pending.count,
}));

let closeStore = async () => undefined;
let sessionStore;
if (library !== 'none') {
  const opened = await openFastifyStore(library, storeName, `benchf_${process.pid}`);
  closeStore = opened.close;
  const wrapped = counted(opened.store, counters);
  pending = wrapped.pending;
  sessionStore = wrapped.store;
}

// The workload routes in a context of their own, with the session plugin
// (fastify-plugin lifts its hooks to this context, not to /ops).
await app.register(async (instance) => {
  // Requests are counted here, not by autocannon: the ones still in flight when
  // a load stops were served (and cost store operations) but are not in its total.
  // Added before the session plugin, so it runs before the session is read.
  instance.addHook('onRequest', async (_request, reply) => {
    served += 1;
    open += 1;
    reply.raw.once('close', () => {
      open -= 1;
    });
  });
  if (library !== 'none') {
    const { plugin, options } = fastifyPlugin(library, sessionStore);
    await instance.register(fastifyCookie);
    await instance.register(plugin, options);
  }
  const session = (request) => request.session ?? {};

  instance.get('/read', async (request) => {
    const s = session(request);
    return { user: s.user ?? null, n: s.n ?? 0 };
  });

  instance.get('/write', async (request) => {
    const s = session(request);
    s.n = (s.n ?? 0) + 1;
    return { n: s.n };
  });

  instance.get('/new', async (request) => {
    session(request).user = 'visitor';
    return { ok: true };
  });

  instance.post('/seed', async (request) => {
    const s = session(request);
    s.user = `user-${Math.random().toString(36).slice(2)}`;
    s.n = 0;
    const kb = Number(request.query.kb ?? 0);
    if (kb > 0) {
      // About `kb` KB of JSON: an array of small objects, as a real cart or profile would be.
      s.items = Array.from({ length: Math.round((kb * 1024) / 64) }, (_, i) => ({
        id: i,
        name: `item number ${i} of the session`,
        price: i * 1.25,
      }));
    }
    return { ok: true };
  });
});

// A failing backend is reported once per distinct message, not once per request.
const reported = new Set();
app.setErrorHandler((error, _request, reply) => {
  const message = `${error?.name ?? 'Error'}: ${String(error?.message ?? error).slice(0, 200)}`;
  if (!reported.has(message)) {
    reported.add(message);
    console.error(`[${library}/${storeName}] request failed: ${message}`);
  }
  reply.code(500).send();
});

await app.listen({ port: 0, host: '127.0.0.1' });
console.log(`listening ${app.server.address().port}`);

async function shutdown() {
  app.server.closeAllConnections();
  await app.close().catch(() => undefined);
  // Let store calls of requests already running finish before the store closes:
  // wait (bounded) until none has been pending for 100 ms.
  for (let waited = 0, quiet = 0; quiet < 100 && waited < 10_000; waited += 20) {
    await new Promise((r) => setTimeout(r, 20));
    quiet = pending.count > 0 ? 0 : quiet + 20;
  }
  await closeStore().catch(() => undefined);
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
