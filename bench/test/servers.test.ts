// The benchmark's servers answer each workload correctly and count store
// operations where the runner expects them: every Express and Fastify
// contender on each of its framework's stores (the networked ones against the
// real services), plus each framework's ceiling. The figures `pnpm bench`
// prints mean something only when these hold.
import { resolveService, type ServiceKind } from '@sess/store-conformance/services';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FASTIFY_LIBRARIES,
  FASTIFY_STORES,
  LIBRARIES,
  SERVICE_ENV,
  STORES,
  splitStore,
  VARIANT_STORES,
} from '../src/contenders.mjs';
import { startServer } from '../src/servers.mjs';

interface Ops {
  get: number;
  set: number;
  touch: number;
  destroy: number;
  compareAndSet: number;
  requests: number;
}

const FRAMEWORKS = [
  // SQLite and Mongo stay out of this test: the Express lines there are the
  // stress test's and the incumbent report's (the same stores, opened by the same code).
  // The feature variants (a user index, encryption) answer and cost the same
  // store operations as the plain stores.
  {
    framework: 'express',
    libraries: LIBRARIES,
    stores: [...STORES.filter((s) => s !== 'mongo'), ...VARIANT_STORES],
  },
  { framework: 'fastify', libraries: FASTIFY_LIBRARIES, stores: FASTIFY_STORES },
] as const;

const services = new Map<string, { env?: Record<string, string>; skip: string | false }>();
const stops: Array<() => Promise<void>> = [];
for (const store of new Set(FRAMEWORKS.flatMap((f) => f.stores))) {
  const base: string = splitStore(store).base;
  const variable = (SERVICE_ENV as Record<string, string | undefined>)[base];
  if (!variable) {
    services.set(store, { skip: false });
    continue;
  }
  const found = await resolveService((base === 'redis-node' ? 'redis' : base) as ServiceKind);
  if (found.available) stops.push(found.stop);
  services.set(
    store,
    found.available ? { env: { [variable]: found.url }, skip: false } : { skip: found.reason },
  );
}
afterAll(async () => {
  for (const stop of stops) await stop();
});

async function ops(url: string): Promise<Ops> {
  return (await fetch(`${url}/ops`)).json() as Promise<Ops>;
}

/** What `step` resolved, and the store operations and requests it cost the server. */
async function cost<T>(url: string, step: () => Promise<T>) {
  const before = await ops(url);
  const result = await step();
  const after = await ops(url);
  const delta = (key: keyof Ops) => after[key] - before[key];
  return {
    result,
    reads: delta('get'),
    writes: delta('set') + delta('compareAndSet'),
    touches: delta('touch'),
    destroys: delta('destroy'),
    requests: delta('requests'),
  };
}

async function seed(url: string, kb: number): Promise<string> {
  const res = await fetch(`${url}/seed?kb=${kb}`, { method: 'POST' });
  expect(res.status).toBe(200);
  const cookie = res.headers.getSetCookie()[0]?.split(';')[0];
  await res.arrayBuffer();
  if (!cookie) throw new Error('seeding returned no session cookie');
  return cookie;
}

interface Answer {
  status: number;
  setCookie: string[];
  body: Record<string, unknown>;
}

async function get(url: string, path: string, cookie?: string): Promise<Answer> {
  const res = await fetch(`${url}${path}`, { headers: cookie ? { cookie } : {} });
  return {
    status: res.status,
    setCookie: res.headers.getSetCookie(),
    body: (await res.json()) as Record<string, unknown>,
  };
}

for (const { framework, libraries, stores } of FRAMEWORKS) {
  describe(`bench servers: ${framework}`, () => {
    it(`${framework}, no session (the ceiling): the workload routes answer, no store, no cookie`, async () => {
      const server = await startServer({ framework, library: 'none', store: '-' });
      try {
        const { result, ...spent } = await cost(server.url, async () => [
          await get(server.url, '/read'),
          await get(server.url, '/write'),
          await get(server.url, '/new'),
        ]);
        expect(result).toEqual([
          { status: 200, setCookie: [], body: { user: null, n: 0 } },
          { status: 200, setCookie: [], body: { n: 1 } },
          { status: 200, setCookie: [], body: { ok: true } },
        ]);
        expect(spent).toEqual({ reads: 0, writes: 0, touches: 0, destroys: 0, requests: 3 });
      } finally {
        await server.stop();
      }
    });

    for (const store of stores) {
      const service = services.get(store);
      const skip = service?.skip ?? 'not resolved';
      for (const library of libraries) {
        it.skipIf(Boolean(skip))(
          `${library} / ${store}${skip ? ` (SKIPPED: ${skip})` : ''}: each workload's answer and store operations`,
          async () => {
            const server = await startServer({ framework, library, store }, [], {
              ...process.env,
              ...service?.env,
            });
            try {
              // express-session touches an unmodified session on every response
              // (all its stores here have `touch`); the others write nothing.
              const touches = library === 'express-session' ? 1 : 0;
              const cookie = await seed(server.url, 0);
              // Workload 1: one read, no write, no cookie sent back (nothing changed).
              const { result: read, ...w1 } = await cost(server.url, () =>
                get(server.url, '/read', cookie),
              );
              expect(read.status).toBe(200);
              expect(read.body).toMatchObject({ n: 0 });
              expect(read.body.user).toMatch(/^user-/);
              expect(read.setCookie).toEqual([]);
              expect(w1).toEqual({ reads: 1, writes: 0, touches, destroys: 0, requests: 1 });

              // Workload 2: one read and one write per request; the change is kept.
              const { result: writes, ...w2 } = await cost(server.url, async () => [
                await get(server.url, '/write', cookie),
                await get(server.url, '/write', cookie),
              ]);
              expect(writes.map((w) => w.body)).toEqual([{ n: 1 }, { n: 2 }]);
              expect(w2).toEqual({ reads: 2, writes: 2, touches: 0, destroys: 0, requests: 2 });
              expect((await get(server.url, '/read', cookie)).body).toMatchObject({ n: 2 });

              // Workload 3: no cookie; no read, one write, a session cookie back.
              const { result: fresh, ...w3 } = await cost(server.url, () =>
                get(server.url, '/new'),
              );
              expect(fresh.body).toEqual({ ok: true });
              expect(fresh.setCookie).toHaveLength(1);
              expect(w3).toEqual({ reads: 0, writes: 1, touches: 0, destroys: 0, requests: 1 });

              // Workload 4: a session of about 50 KB: one read, no write.
              const large = await seed(server.url, 50);
              const { result: big, ...w4 } = await cost(server.url, () =>
                get(server.url, '/read', large),
              );
              expect(big.body.user).toMatch(/^user-/);
              expect(w4).toEqual({ reads: 1, writes: 0, touches, destroys: 0, requests: 1 });
            } finally {
              await server.stop();
            }
          },
          60_000,
        );
      }
    }
  });
}

// A Redis contender deletes its keys when its server stops, however many a run
// left: a full run leaves 150k+ sessions per contender, and connect-redis's
// clear() throws a RangeError on that many (one DEL with every key spread into
// one call), so they stayed on the Redis the test suites share.
// Each server here gets 20,000 extra keys under its namespace (as many
// sessions, written straight to Redis), and must exit by itself (code 0, no
// SIGKILL) with none of its namespace's keys left.
const REDIS_CONTENDERS = [
  { framework: 'express', library: 'sess', store: 'redis', prefix: 'bench_', sub: 'sess' },
  { framework: 'express', library: 'sess', store: 'redis-node', prefix: 'bench_', sub: 'sess' },
  { framework: 'express', library: 'sess', store: 'redis+users', prefix: 'bench_', sub: 'sess' },
  {
    framework: 'express',
    library: 'express-session',
    store: 'redis',
    prefix: 'bench_',
    sub: 'es',
  },
  {
    framework: 'fastify',
    library: '@fastify/session',
    store: 'redis',
    prefix: 'benchf_',
    sub: 'es',
  },
  {
    framework: 'fastify',
    library: '@sess/fastify',
    store: 'redis',
    prefix: 'benchf_',
    sub: 'sess',
  },
] as const;
const EXTRA_KEYS = 20_000;

describe('bench servers: Redis contenders delete their keys on stop', () => {
  const service = services.get('redis');
  const url = service?.env?.SESS_REDIS_URL;
  for (const { framework, library, store, prefix, sub } of REDIS_CONTENDERS) {
    it.skipIf(Boolean(service?.skip))(
      `${framework} ${library} / ${store}${service?.skip ? ` (SKIPPED: ${service.skip})` : ''}: no key of its namespace left, exit without SIGKILL`,
      async () => {
        const { createClient } = await import('redis');
        const client = createClient({ url });
        await client.connect();
        const server = await startServer({ framework, library, store }, [], {
          ...process.env,
          ...service?.env,
        });
        const ns = `${prefix}${server.pid}`;
        const count = async (pattern: string) => {
          let n = 0;
          for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) {
            n += keys.length;
          }
          return n;
        };
        try {
          const cookie = await seed(server.url, 0);
          expect((await get(server.url, '/write', cookie)).body).toEqual({ n: 1 });
          const session = JSON.stringify({ cookie: { originalMaxAge: 3_600_000 }, n: 0 });
          for (let i = 0; i < EXTRA_KEYS; i += 1000) {
            const batch: [string, string][] = [];
            for (let j = i; j < i + 1000; j++) batch.push([`${ns}:${sub}:extra${j}`, session]);
            await client.mSet(batch);
          }
          expect(await count(`${ns}:*`)).toBe(EXTRA_KEYS + 1);
          if (store === 'redis+users') expect(await count(`users:${ns}:*`)).toBeGreaterThan(0);
          const ended = await server.stop();
          expect(ended).toEqual({ code: 0, signal: null });
          expect(await count(`${ns}:*`)).toBe(0);
          expect(await count(`users:${ns}:*`)).toBe(0);
        } finally {
          await server.stop();
          await client.quit();
        }
      },
      60_000,
    );
  }
});
