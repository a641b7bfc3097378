// Parallel requests on one session, for every store, with sess and with
// express-session on the same backend and the same handler:
//  - lost updates: N requests at once, each setting its own key; how many keys survive?
//  - resurrection: a logout while requests are in flight; does the session come back?
// sess must lose nothing and resurrect nothing; express-session's figures are
// counted and reported (bench/results/stress.json and the table printed here).
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import fastifyCookie from '@fastify/cookie';
import fastifySessionIncumbent from '@fastify/session';
import { fastifySession } from '@sess/fastify';
import { resolveService, type ServiceKind } from '@sess/store-conformance/services';
import express from 'express';
import Fastify, { type FastifyPluginCallback } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { LIBRARIES, middleware, openStore, SECRET, STORES } from '../src/contenders.mjs';

const PARALLEL = 50;
const TRIALS = 5;
/** Each handler waits this long between reading the session and answering, so requests overlap. */
const WORK_MS = 25;

interface Figures {
  store: string;
  library: string;
  lostKeys: number;
  keysExpected: number;
  resurrected: number;
  trials: number;
  /** Requests answered with an error (counted for incumbents that fail some, see `failed`). */
  failedRequests?: number;
}
const figures: Figures[] = [];

/** Each networked store's backend: its URL, or why it is skipped (SESS_REQUIRE_SERVICES=1 throws instead). */
const services = new Map<
  string,
  { url?: string; skip: string | false; stop: () => Promise<void> }
>();
for (const store of STORES) {
  if (store === 'memory' || store === 'sqlite') {
    services.set(store, { skip: false, stop: async () => undefined });
    continue;
  }
  // redis-node: the same Redis server, reached through a node-redis client.
  const found = await resolveService((store === 'redis-node' ? 'redis' : store) as ServiceKind);
  services.set(
    store,
    found.available
      ? { url: found.url, skip: false, stop: found.stop }
      : { skip: found.reason, stop: async () => undefined },
  );
}

type SessionLike = Record<string, unknown> & {
  destroy(callback: (err?: unknown) => void): void;
};

async function startApp(library: string, store: unknown) {
  const app = express();
  app.use(middleware(library, store) as express.RequestHandler);
  const session = (req: express.Request) => (req as unknown as { session: SessionLike }).session;
  app.post('/start', (req, res) => {
    session(req).user = 'ada';
    res.end();
  });
  app.post('/key/:n', async (req, res) => {
    await new Promise((r) => setTimeout(r, WORK_MS));
    session(req)[`k${req.params.n}`] = Number(req.params.n);
    res.end();
  });
  app.get('/keys', (req, res) => {
    const s = session(req);
    res.json(Object.keys(s).filter((k) => /^k\d+$/.test(k)));
  });
  app.post('/logout', (req, res, next) => {
    session(req).destroy((err) => (err ? next(err) : res.end()));
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, close: () => new Promise((r) => server.close(r)) };
}

/**
 * The same app on Fastify: '@sess/fastify' or '@fastify/session', both with
 * their defaults (rolling: every response re-sends the cookie) and the same
 * options. @fastify/session gets express-session's store for the backend (it
 * takes that callback contract), @sess/fastify the sess store.
 */
const FASTIFY_LIBRARIES = ['@fastify/session', '@sess/fastify'] as const;

async function startFastifyApp(library: (typeof FASTIFY_LIBRARIES)[number], store: unknown) {
  const app = Fastify();
  await app.register(fastifyCookie);
  const plugin = (library === '@sess/fastify'
    ? fastifySession
    : fastifySessionIncumbent) as unknown as FastifyPluginCallback<Record<string, unknown>>;
  await app.register(plugin, {
    secret: SECRET,
    store,
    saveUninitialized: false,
    cookie: { secure: false, maxAge: 3_600_000 },
  });
  const session = (request: unknown) => (request as { session: SessionLike }).session;
  app.post('/start', async (request) => {
    session(request).user = 'ada';
    return '';
  });
  app.post('/key/:n', async (request) => {
    await new Promise((r) => setTimeout(r, WORK_MS));
    const n = (request.params as { n: string }).n;
    session(request)[`k${n}`] = Number(n);
    return '';
  });
  app.get('/keys', async (request) =>
    Object.keys(session(request) ?? {}).filter((k) => /^k\d+$/.test(k)),
  );
  app.post('/logout', (request, reply) => {
    session(request).destroy((err) => (err ? reply.send(err) : reply.send('')));
  });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  return { base, close: () => app.close() };
}

async function newSession(base: string): Promise<string> {
  const res = await fetch(`${base}/start`, { method: 'POST' });
  const cookie = res.headers.getSetCookie()[0]?.split(';')[0];
  if (!cookie) throw new Error(`no session cookie (status ${res.status})`);
  return cookie;
}

/**
 * Non-200 answers of an incumbent that is allowed them (counted and reported
 * instead of failing its run: @fastify/session on FerretDB answers some
 * parallel writes with a 500).
 */
const failed = { count: 0 };

function expectAllOk(statuses: number[], tolerate: boolean) {
  const bad = statuses.filter((s) => s !== 200);
  if (tolerate) failed.count += bad.length;
  else expect(bad).toEqual([]);
}

/** N parallel requests, each adding its own key; resolves how many keys were lost. */
async function lostUpdates(base: string, tolerate = false): Promise<number> {
  const cookie = await newSession(base);
  const statuses = await Promise.all(
    Array.from({ length: PARALLEL }, (_, n) =>
      fetch(`${base}/key/${n}`, { method: 'POST', headers: { cookie } }).then((r) => r.status),
    ),
  );
  expectAllOk(statuses, tolerate);
  const keys = (await (await fetch(`${base}/keys`, { headers: { cookie } })).json()) as string[];
  return PARALLEL - keys.length;
}

/** Requests in flight during a logout: resolves 1 when the session came back afterwards. */
async function resurrection(base: string, cookie: string, tolerate = false) {
  const inFlight = Array.from({ length: 10 }, (_, n) =>
    fetch(`${base}/key/${n}`, { method: 'POST', headers: { cookie } }).then((r) => r.status),
  );
  await new Promise((r) => setTimeout(r, WORK_MS / 2));
  const logout = await fetch(`${base}/logout`, { method: 'POST', headers: { cookie } });
  expectAllOk([logout.status], tolerate);
  const statuses = await Promise.all(inFlight);
  expectAllOk(statuses, tolerate);
  const keys = (await (await fetch(`${base}/keys`, { headers: { cookie } })).json()) as string[];
  return keys.length > 0 ? 1 : 0;
}

afterAll(async () => {
  for (const service of services.values()) await service.stop();
  if (figures.length === 0) return;
  const table = ['store      | sess lost / resurrected | express-session lost / resurrected'];
  const row = (store: string, library: string) => {
    const f = figures.find((x) => x.store === store && x.library === library);
    if (!f) return 'skipped';
    const errors = f.failedRequests ? `, ${f.failedRequests} failed requests` : '';
    return `${f.lostKeys}/${f.keysExpected} keys, ${f.resurrected}/${f.trials}${errors}`;
  };
  for (const store of STORES) {
    table.push(
      `${store.padEnd(10)} | ${row(store, 'sess').padEnd(23)} | ${row(store, 'express-session')}`,
    );
  }
  table.push('', 'Fastify:   | @sess/fastify           | @fastify/session');
  for (const store of STORES) {
    table.push(
      `${store.padEnd(10)} | ${row(store, '@sess/fastify').padEnd(23)} | ${row(store, '@fastify/session')}`,
    );
  }
  console.log(
    `\nParallel-request stress (${PARALLEL} requests x ${TRIALS} trials per store):\n${table.join('\n')}\n`,
  );
  mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('../results/stress.json', import.meta.url),
    `${JSON.stringify({ date: new Date().toISOString(), parallel: PARALLEL, trials: TRIALS, figures }, null, 2)}\n`,
  );
});

for (const store of STORES) {
  const service = services.get(store);
  const skip = service?.skip ?? 'not resolved';
  describe.skipIf(Boolean(skip))(`stress: ${store}${skip ? ` (SKIPPED: ${skip})` : ''}`, () => {
    for (const library of LIBRARIES) {
      it(`${library}: ${PARALLEL} parallel requests per session, each changing its own key; logout during requests`, async () => {
        const opened = await openStore(
          library,
          store,
          `stress_${library.replace(/\W/g, '')}_${process.pid}`,
          service?.url,
        );
        const app = await startApp(library, opened.store);
        try {
          let lost = 0;
          let resurrected = 0;
          for (let trial = 0; trial < TRIALS; trial++) {
            lost += await lostUpdates(app.base);
            resurrected += await resurrection(app.base, await newSession(app.base));
          }
          figures.push({
            store,
            library,
            lostKeys: lost,
            keysExpected: PARALLEL * TRIALS,
            resurrected,
            trials: TRIALS,
          });
          if (library === 'sess') {
            expect(lost, 'keys lost by sess').toBe(0);
            expect(resurrected, 'sessions resurrected by sess').toBe(0);
          }
        } finally {
          await app.close();
          await opened.close();
        }
      }, 120_000);
    }
  });
}

// The Fastify column: @sess/fastify against @fastify/session on every store.
for (const store of STORES) {
  const service = services.get(store);
  const skip = service?.skip ?? 'not resolved';
  describe.skipIf(Boolean(skip))(
    `stress on Fastify: ${store}${skip ? ` (SKIPPED: ${skip})` : ''}`,
    () => {
      for (const library of FASTIFY_LIBRARIES) {
        it(`${library}: ${PARALLEL} parallel requests per session, each changing its own key; logout during requests`, async () => {
          // @fastify/session takes express-session's stores; @sess/fastify the sess ones.
          const opened = await openStore(
            library === '@sess/fastify' ? 'sess' : 'express-session',
            store,
            `stressf_${library.replace(/\W/g, '')}_${process.pid}`,
            service?.url,
          );
          const app = await startFastifyApp(library, opened.store);
          try {
            let lost = 0;
            let resurrected = 0;
            const tolerate = library === '@fastify/session';
            failed.count = 0;
            for (let trial = 0; trial < TRIALS; trial++) {
              lost += await lostUpdates(app.base, tolerate);
              resurrected += await resurrection(app.base, await newSession(app.base), tolerate);
            }
            figures.push({
              store,
              library,
              lostKeys: lost,
              keysExpected: PARALLEL * TRIALS,
              resurrected,
              trials: TRIALS,
              failedRequests: failed.count,
            });
            if (library === '@sess/fastify') {
              expect(lost, 'keys lost by @sess/fastify').toBe(0);
              expect(resurrected, 'sessions resurrected by @sess/fastify').toBe(0);
            }
          } finally {
            await app.close();
            await opened.close();
          }
        }, 240_000); // FerretDB under 50 parallel writers: sess on Express takes ~70 s there alone
      }
    },
  );
}
