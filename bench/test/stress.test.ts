// Parallel requests on one session, for every store, with sess and with
// express-session on the same backend and the same handler:
//  - lost updates: N requests at once, each setting its own key; how many keys survive?
//  - resurrection: a logout while requests are in flight; does the session come back?
// sess must lose nothing and resurrect nothing; express-session's figures are
// counted and reported (bench/results/stress.json and the table printed here).
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { resolveService, type ServiceKind } from '@sess/store-conformance/services';
import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { LIBRARIES, middleware, openStore, STORES } from '../src/contenders.mjs';

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

async function newSession(base: string): Promise<string> {
  const res = await fetch(`${base}/start`, { method: 'POST' });
  const cookie = res.headers.getSetCookie()[0]?.split(';')[0];
  if (!cookie) throw new Error(`no session cookie (status ${res.status})`);
  return cookie;
}

/** N parallel requests, each adding its own key; resolves how many keys were lost. */
async function lostUpdates(base: string): Promise<number> {
  const cookie = await newSession(base);
  const statuses = await Promise.all(
    Array.from({ length: PARALLEL }, (_, n) =>
      fetch(`${base}/key/${n}`, { method: 'POST', headers: { cookie } }).then((r) => r.status),
    ),
  );
  expect(statuses.filter((s) => s !== 200)).toEqual([]);
  const keys = (await (await fetch(`${base}/keys`, { headers: { cookie } })).json()) as string[];
  return PARALLEL - keys.length;
}

/** Requests in flight during a logout: resolves 1 when the session came back afterwards. */
async function resurrection(base: string, cookie: string) {
  const inFlight = Array.from({ length: 10 }, (_, n) =>
    fetch(`${base}/key/${n}`, { method: 'POST', headers: { cookie } }).then((r) => r.status),
  );
  await new Promise((r) => setTimeout(r, WORK_MS / 2));
  const logout = await fetch(`${base}/logout`, { method: 'POST', headers: { cookie } });
  expect(logout.status).toBe(200);
  const statuses = await Promise.all(inFlight);
  expect(statuses.filter((s) => s !== 200)).toEqual([]);
  const keys = (await (await fetch(`${base}/keys`, { headers: { cookie } })).json()) as string[];
  return keys.length > 0 ? 1 : 0;
}

afterAll(async () => {
  for (const service of services.values()) await service.stop();
  if (figures.length === 0) return;
  const table = ['store      | sess lost / resurrected | express-session lost / resurrected'];
  for (const store of STORES) {
    const row = (library: string) => {
      const f = figures.find((x) => x.store === store && x.library === library);
      return f ? `${f.lostKeys}/${f.keysExpected} keys, ${f.resurrected}/${f.trials}` : 'skipped';
    };
    table.push(`${store.padEnd(10)} | ${row('sess').padEnd(23)} | ${row('express-session')}`);
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
