// Issue 13's property test: random cookie options, random `cookie()` results
// and random stored records thrown at the middleware on Express 4 and 5.
// Whatever comes in: a bad configuration is a SessConfigError at startup;
// otherwise every request gets an answer within a bound (a 200, or a 500 from
// the error handler carrying a typed sess error), no error escapes to the
// process, and no Set-Cookie says SameSite=None without Secure.
import type { SessionRecord, SessionStore } from '@sess/core';
import { SessConfigError, signCookie } from '@sess/core';
import type express5 from 'express';
import fc from 'fast-check';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { session } from '../src/index.js';
import { EXPRESS, SECRET } from './helpers.js';

const RUNS = 120;
/** A few hundred requests per property: bounded per request (10 s), not by vitest's 5 s default. */
const PROPERTY_TIMEOUT = 120_000;
const ID = 'property-test-session-id-0123456';
const COOKIE = `connect.sid=${encodeURIComponent(signCookie(ID, SECRET))}`;

/** Values of every type a cookie option might be given, the valid ones included. */
const anything = fc.oneof(
  fc.constantFrom(undefined, null, true, false, 0, -1, Number.NaN, Number.POSITIVE_INFINITY, ''),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.date({ noInvalidDate: false }),
  fc.constant({}),
);

/** Mostly `valid`, now and then anything at all. */
const mostly = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: valid, weight: 12 }, { arbitrary: anything, weight: 1 });

const sameSites = fc.constantFrom(
  'none',
  'None',
  'NONE',
  'none',
  'auto',
  true,
  false,
  'lax',
  'strict',
  'Lax',
);

const cookieOptions = fc.record(
  {
    maxAge: mostly(
      fc.oneof(
        fc.integer({ min: -1e6, max: 1e10 }),
        fc.constantFrom(Number.MAX_SAFE_INTEGER, 1e300, -1e300, null, 0),
      ),
    ),
    expires: mostly(fc.constantFrom(null, false, new Date(8.64e15), new Date(Date.now() + 60_000))),
    path: mostly(fc.constantFrom('/', '/', '/', '/a;b', '/ x', '')),
    domain: mostly(
      fc.constantFrom(undefined, undefined, '127.0.0.1', 'example.com ', 'bad domain'),
    ),
    httpOnly: mostly(fc.boolean()),
    secure: mostly(fc.constantFrom(true, false, 'auto')),
    sameSite: mostly(
      fc.oneof(
        { arbitrary: sameSites, weight: 10 },
        { arbitrary: fc.constant('bogus'), weight: 1 },
      ),
    ),
    partitioned: mostly(fc.boolean()),
    priority: mostly(fc.constantFrom('low', 'medium', 'high', 'HIGH', 'urgent')),
  },
  { requiredKeys: [] },
);

/** A stored cookie: the fields express-session writes, with any value, or not an object at all. */
const storedCookie = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record(
      {
        originalMaxAge: mostly(
          fc.oneof(
            fc.integer({ min: -1e6, max: 1e10 }),
            fc.constantFrom(null, false, 1e300, Number.MAX_SAFE_INTEGER),
          ),
        ),
        expires: mostly(
          fc.oneof(
            fc
              .integer({ min: -1e9, max: 1e10 })
              .map((ms) => new Date(Date.now() + ms).toISOString()),
            fc.constantFrom(null, false, '+100000-01-01T00:00:00.000Z', 'not a date'),
          ),
        ),
        path: mostly(fc.constantFrom('/', '/', '/a;b')),
        domain: mostly(fc.constantFrom(undefined, '127.0.0.1', 'bad domain ')),
        httpOnly: mostly(fc.boolean()),
        secure: mostly(fc.boolean()),
        sameSite: mostly(fc.oneof(sameSites, fc.constant('bogus'))),
        partitioned: mostly(fc.boolean()),
        priority: mostly(fc.constantFrom('low', 'high', 'urgent')),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: anything },
);

/** Deeply nested data, now and then. */
const deep = fc.integer({ min: 1, max: 20_000 }).map((depth) => {
  const root: Record<string, unknown> = {};
  let node = root;
  for (let i = 0; i < depth; i++) {
    node.a = {};
    node = node.a as Record<string, unknown>;
  }
  return root;
});

const storedRecord = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({ cookie: storedCookie, data: fc.jsonValue({ maxDepth: 3 }) }),
  },
  { weight: 1, arbitrary: fc.record({ cookie: storedCookie, data: deep }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.constant(null) },
);

const requestShape = fc.record({
  https: fc.boolean(),
  withCookie: fc.boolean(),
  rolling: fc.boolean(),
  resave: fc.boolean(),
  action: fc.constantFrom('read', 'write', 'destroy', 'regenerate'),
});

/** A store that answers `get` with the record under test, and keeps what is written. */
function storeWith(record: unknown): SessionStore {
  let current = record;
  return {
    get: async () => current as SessionRecord | null,
    set: async (_id, value) => {
      current = value;
    },
    destroy: async () => {
      current = null;
    },
    touch: async () => {},
  };
}

const escaped: unknown[] = [];
/** What the runs covered: the properties must not pass by refusing everything at startup. */
/** What the runs covered (both Express majors, both properties). */
const tally = { refused: 0, served: 0, withSessionCookie: 0, sameSiteNone: 0 };
const onEscape = (reason: unknown) => escaped.push(reason);
beforeAll(() => {
  // One SameSite downgrade warning per middleware: hundreds here, none of them news.
  vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
  process.on('unhandledRejection', onEscape);
  process.on('uncaughtException', onEscape);
});
afterAll(() => {
  vi.restoreAllMocks();
  process.off('unhandledRejection', onEscape);
  process.off('uncaughtException', onEscape);
});

type Shape = {
  https: boolean;
  withCookie: boolean;
  rolling: boolean;
  resave: boolean;
  action: string;
};

describe.each(EXPRESS)(
  '%s: random cookie options, cookie() results and stored records',
  (_l, express) => {
    /** Build the app, or return the startup error. */
    function build(cookie: unknown, record: unknown, shape: Shape) {
      let middleware: ReturnType<typeof session>;
      try {
        middleware = session({
          secret: SECRET,
          store: storeWith(record),
          proxy: true,
          rolling: shape.rolling,
          resave: shape.resave,
          cookie: cookie as never,
        });
      } catch (error) {
        return { error };
      }
      const app = express();
      app.use(middleware);
      app.get('/', async (req, res) => {
        const s = req.session as unknown as
          | (Record<string, unknown> & typeof req.session)
          | undefined;
        if (!s) return void res.send('no session');
        if (shape.action === 'write') s.n = 1;
        if (shape.action === 'destroy') await s.destroy();
        if (shape.action === 'regenerate') await s.regenerate();
        res.send('ok');
      });
      app.use(
        (
          err: Error & { code?: string },
          _req: express5.Request,
          res: express5.Response,
          next: express5.NextFunction,
        ) => {
          if (res.headersSent) return next(err);
          res.status(500).json({ name: err.name, code: err.code });
        },
      );
      return { app };
    }

    async function check(cookie: unknown, record: unknown, shape: Shape): Promise<void> {
      const built = build(cookie, record, shape);
      if ('error' in built) {
        expect(built.error).toBeInstanceOf(SessConfigError);
        tally.refused++;
        return;
      }
      tally.served++;
      let call = request(built.app).get('/').timeout(10_000);
      if (shape.https) call = call.set('X-Forwarded-Proto', 'https');
      if (shape.withCookie) call = call.set('Cookie', COOKIE);
      const res = await call; // rejects on a hung request (timeout) or a cut connection
      expect([200, 500]).toContain(res.status);
      // A 500 only from a typed configuration error, or the cookie() function's own throw.
      if (res.status === 500) {
        expect(
          res.body.code === 'SESS_CONFIG' || res.body.name === 'Error',
          JSON.stringify(res.body),
        ).toBe(true);
      }
      const lines = ([] as string[]).concat(
        (res.headers['set-cookie'] as unknown as string[]) ?? [],
      );
      if (lines.some((line) => line.startsWith('connect.sid='))) tally.withSessionCookie++;
      for (const line of lines) {
        if (/SameSite=None/i.test(line)) tally.sameSiteNone++;
        if (/;\s*SameSite=None/i.test(line)) expect(line).toMatch(/;\s*Secure/i);
        if (/;\s*Partitioned/i.test(line)) expect(line).toMatch(/;\s*Secure/i);
      }
      expect(escaped).toEqual([]);
    }

    it(
      'cookie options given as an object',
      async () => {
        await fc.assert(
          fc.asyncProperty(cookieOptions, storedRecord, requestShape, (options, record, shape) =>
            check(options, record, shape),
          ),
          { numRuns: RUNS },
        );
      },
      PROPERTY_TIMEOUT,
    );

    it(
      'SameSite=None in any case, with and without Secure, over HTTP and HTTPS',
      async () => {
        const noneOptions = fc.record(
          {
            sameSite: fc.constantFrom('none', 'None', 'NONE', 'auto'),
            secure: fc.constantFrom(true, false, 'auto', undefined),
            partitioned: fc.boolean(),
            maxAge: fc.constantFrom(undefined, 60_000),
          },
          { requiredKeys: ['sameSite'] },
        );
        const noneRecord = fc.record({
          cookie: fc.record(
            {
              originalMaxAge: fc.constantFrom(null, 60_000),
              sameSite: fc.constantFrom('none', 'None', 'NONE', 'lax'),
              secure: fc.boolean(),
              partitioned: fc.boolean(),
            },
            { requiredKeys: ['sameSite'] },
          ),
        });
        await fc.assert(
          fc.asyncProperty(noneOptions, noneRecord, requestShape, (options, record, shape) =>
            check(options, record, shape),
          ),
          { numRuns: RUNS },
        );
      },
      PROPERTY_TIMEOUT,
    );

    it(
      'cookie options from a cookie() function (random results, sometimes a throw)',
      async () => {
        const result = fc.oneof(
          cookieOptions.map((options) => () => options),
          anything.map((value) => () => value),
          fc.constant(() => {
            throw new Error('no tenant');
          }),
        );
        await fc.assert(
          fc.asyncProperty(result, storedRecord, requestShape, async (fn, record, shape) => {
            const built = build(fn, record, shape);
            if ('error' in built) throw built.error; // a function is never refused at startup
            await check(fn, record, shape);
          }),
          { numRuns: RUNS },
        );
      },
      PROPERTY_TIMEOUT,
    );
  },
);

describe('what the random runs covered', () => {
  it('reached the request path, sent cookies, and SameSite=None (with Secure)', () => {
    // Guards the properties above against passing vacuously (everything refused at startup).
    expect(tally.served).toBeGreaterThan(RUNS);
    expect(tally.refused).toBeGreaterThan(0);
    expect(tally.withSessionCookie).toBeGreaterThan(RUNS / 4);
    expect(tally.sameSiteNone).toBeGreaterThan(RUNS / 10);
  });
});
