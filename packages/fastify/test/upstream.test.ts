// @fastify/session's own behaviours (what its test suite and README check),
// each run on @fastify/session 11 (+ @fastify/cookie) and on @sess/fastify with
// the same app and the same assertions. Where the two differ on purpose, the
// test asserts both and names the item of README.md's list of differences.
import fastifyCookie, { sign } from '@fastify/cookie';
import fastifySessionIncumbent from '@fastify/session';
import Fastify, {
  type FastifyInstance,
  type FastifyPluginCallback,
  type FastifyReply,
  type FastifyRequest,
  type LightMyRequestResponse,
} from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type FastifySessionOptions, fastifySession } from '../src/index.js';

const SECRET = 'an upstream-suite secret of 32+ characters';
const INCUMBENT = '@fastify/session';
const SESS = '@sess/fastify';
/** A signed session cookie value as both plugins read it: `<id>.<HMAC>`. */
const SIGNED = String.raw`[\w-]{32}\.[^;]+`;

type Options = Record<string, unknown>;
type Register = (fastify: FastifyInstance, options: Options) => Promise<void>;

const LIBRARIES: [string, Register][] = [
  [
    INCUMBENT,
    async (fastify, options) => {
      await fastify.register(
        fastifySessionIncumbent as unknown as FastifyPluginCallback<Options>,
        options,
      );
    },
  ],
  [
    SESS,
    async (fastify, options) => {
      await fastify.register(fastifySession, options as unknown as FastifySessionOptions);
    },
  ],
];

type Callback = (err?: unknown) => void;

/** The session as both plugins expose it. */
interface AnySession {
  [key: string]: unknown;
  sessionId: string;
  encryptedSessionId: string;
  cookie: {
    expires: Date | null;
    originalMaxAge: number | null;
    maxAge: number | null;
    secure: unknown;
  };
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  touch(): void;
  options(opts: Record<string, unknown>): void;
  isModified(): boolean;
  save(callback?: Callback): Promise<void>;
  reload(callback?: Callback): Promise<void>;
  destroy(callback?: Callback): Promise<void>;
  regenerate(keep?: string[] | Callback, callback?: Callback): Promise<void>;
}
function sessionOf(request: object): AnySession {
  return (request as { session: AnySession }).session;
}

/**
 * A store written for @fastify/session (callbacks) that keeps JSON, as real
 * ones do; every call is counted, and each method can be made to fail.
 */
class CallbackStore {
  readonly map = new Map<string, string>();
  readonly calls = { get: 0, set: 0, destroy: 0 };
  readonly destroyed: string[] = [];
  failGet: Error | undefined;
  failSet: Error | undefined;
  failDestroy: Error | undefined;
  get(id: string, callback: (err: unknown, session?: unknown) => void): void {
    this.calls.get++;
    const value = this.map.get(id);
    setImmediate(() => {
      if (this.failGet) callback(this.failGet);
      else callback(null, value === undefined ? null : JSON.parse(value));
    });
  }
  set(id: string, session: unknown, callback: (err?: unknown) => void): void {
    this.calls.set++;
    setImmediate(() => {
      if (this.failSet) return callback(this.failSet);
      this.map.set(id, JSON.stringify(session));
      callback();
    });
  }
  destroy(id: string, callback: (err?: unknown) => void): void {
    this.calls.destroy++;
    this.destroyed.push(id);
    setImmediate(() => {
      if (this.failDestroy) return callback(this.failDestroy);
      this.map.delete(id);
      callback();
    });
  }
  put(id: string, record: unknown): void {
    this.map.set(id, JSON.stringify(record));
  }
  read(id: string): Record<string, unknown> | undefined {
    const value = this.map.get(id);
    return value === undefined ? undefined : JSON.parse(value);
  }
}

const open: FastifyInstance[] = [];
afterEach(async () => {
  for (const fastify of open.splice(0)) await fastify.close();
});

interface BuildOptions {
  trustProxy?: boolean;
  /** Runs before the session plugin registers (hooks that must come first). */
  before?: (fastify: FastifyInstance) => void;
}

/** Fastify (trustProxy, as @fastify/session's suite) with @fastify/cookie and the plugin. */
async function build(
  register: Register,
  options: Options,
  routes: (fastify: FastifyInstance) => void,
  { trustProxy = true, before }: BuildOptions = {},
): Promise<FastifyInstance> {
  const fastify = Fastify({ trustProxy });
  open.push(fastify);
  before?.(fastify);
  await fastify.register(fastifyCookie);
  await register(fastify, { secret: SECRET, ...options });
  routes(fastify);
  await fastify.ready();
  return fastify;
}

/** One GET route at `/` running `handler`. */
function route(handler: (request: FastifyRequest, reply: FastifyReply) => unknown) {
  return (fastify: FastifyInstance) => {
    fastify.get('/', async (request, reply) => handler(request, reply));
  };
}

function setCookie(response: LightMyRequestResponse): string | undefined {
  const header = response.headers['set-cookie'];
  if (header === undefined) return undefined;
  return Array.isArray(header) ? header.join('\n') : header;
}

function pair(response: LightMyRequestResponse, name = 'sessionId'): string {
  const header = setCookie(response);
  const found = header?.split('\n').find((line) => line.startsWith(`${name}=`));
  expect(found, 'the response sets the session cookie').toBeDefined();
  return (found as string).split(';')[0] as string;
}

const HTTPS = { 'x-forwarded-proto': 'https' };
/** What @fastify/session (through @fastify/cookie's clearCookie) sends to remove a stale cookie. */
const CLEARED =
  'sessionId=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax';

function encrypted(fastify: FastifyInstance, value: boolean): void {
  fastify.addHook('onRequest', async (request) => {
    (request.raw.socket as { encrypted?: boolean }).encrypted = value;
  });
}

/** The Expires attribute of a Set-Cookie header, in ms since the epoch. */
function expiresOf(header: string | undefined): number {
  const match = header?.match(/Expires=([^;]+)/);
  expect(match, `an Expires attribute in ${header}`).not.toBeNull();
  return Date.parse((match as RegExpMatchArray)[1] as string);
}

describe.each(LIBRARIES)('the session cookie, on %s', (_name, register) => {
  const withData = route((request) => {
    sessionOf(request).test = {};
    return 'ok';
  });

  it('over TLS (socket.encrypted): name=<id>.<signature>; Path=/; HttpOnly; Secure', async () => {
    const fastify = await build(register, {}, withData, { before: (f) => encrypted(f, true) });
    const response = await fastify.inject('/');
    expect(response.statusCode).toBe(200);
    expect(setCookie(response)).toMatch(
      new RegExp(`^sessionId=${SIGNED}; Path=/; HttpOnly; Secure$`),
    );
  });

  it('over plain HTTP with the default secure cookie: no cookie, nothing stored', async () => {
    const store = new CallbackStore();
    const fastify = await build(register, { store }, withData, {
      before: (f) => encrypted(f, false),
    });
    const response = await fastify.inject('/');
    expect(response.statusCode).toBe(200);
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(store.calls.set).toBe(0);
  });

  it('behind a trusted proxy: X-Forwarded-Proto http sends none, https sends it', async () => {
    const fastify = await build(register, {}, withData, { before: (f) => encrypted(f, false) });
    const plain = await fastify.inject({ url: '/', headers: { 'x-forwarded-proto': 'http' } });
    expect(plain.headers['set-cookie']).toBeUndefined();
    const secure = await fastify.inject({ url: '/', headers: HTTPS });
    expect(setCookie(secure)).toMatch(
      new RegExp(`^sessionId=${SIGNED}; Path=/; HttpOnly; Secure$`),
    );
  });

  it('maxAge: cookie.originalMaxAge and cookie.expires in the handler, Expires on the cookie', async () => {
    let seen: { originalMaxAge: unknown; expires: unknown } | undefined;
    const fastify = await build(
      register,
      { cookie: { maxAge: 100000000, secure: false } },
      route((request) => {
        const { cookie } = sessionOf(request);
        seen = { originalMaxAge: cookie.originalMaxAge, expires: cookie.expires };
        return 'ok';
      }),
    );
    const before = Date.now();
    const response = await fastify.inject('/');
    expect(seen?.originalMaxAge).toBe(100000000);
    expect(seen?.expires).toBeInstanceOf(Date);
    const expires = expiresOf(setCookie(response));
    expect(expires).toBeGreaterThanOrEqual(Math.floor((before + 100000000) / 1000) * 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 100000000);
  });

  it('maxAge over HTTPS: Path=/; Expires=...; HttpOnly; Secure', async () => {
    const fastify = await build(register, { cookie: { maxAge: 42 } }, withData);
    const response = await fastify.inject({ url: '/', headers: HTTPS });
    expect(setCookie(response)).toMatch(
      new RegExp(`^sessionId=${SIGNED}; Path=/; Expires=[\\w, :]{29}; HttpOnly; Secure$`),
    );
  });

  it('domain, sameSite: true (Strict), another path, httpOnly: false', async () => {
    const cases: [Options, string, string][] = [
      [{ domain: 'localhost' }, '/', 'Domain=localhost; Path=/; HttpOnly; Secure'],
      [{ sameSite: true }, '/', 'Path=/; HttpOnly; Secure; SameSite=Strict'],
      [{ path: '/a/test/path' }, '/a/test/path', 'Path=/a/test/path; HttpOnly; Secure'],
      [{ httpOnly: false }, '/', 'Path=/; Secure'],
    ];
    for (const [cookie, url, attributes] of cases) {
      const fastify = await build(register, { cookie }, (f) => {
        f.get(url, async (request) => {
          sessionOf(request).test = {};
          return 'ok';
        });
      });
      const response = await fastify.inject({ url, headers: HTTPS });
      expect(setCookie(response), JSON.stringify(cookie)).toMatch(
        new RegExp(`^sessionId=${SIGNED}; ${attributes}$`),
      );
    }
  });

  it('a fixed expires date becomes the Expires attribute', async () => {
    const date = new Date(Date.UTC(2100, 0, 2, 3, 4, 5));
    const fastify = await build(register, { cookie: { expires: date } }, withData);
    const response = await fastify.inject({ url: '/', headers: HTTPS });
    expect(setCookie(response)).toMatch(
      new RegExp(
        `^sessionId=${SIGNED}; Path=/; Expires=Sat, 02 Jan 2100 03:04:05 GMT; HttpOnly; Secure$`,
      ),
    );
  });

  it('secure: false: no Secure attribute, and session.cookie.secure is false', async () => {
    let secure: unknown;
    const fastify = await build(
      register,
      { cookie: { secure: false } },
      route((request) => {
        secure = sessionOf(request).cookie.secure;
        return 'ok';
      }),
    );
    const response = await fastify.inject('/');
    expect(secure).toBe(false);
    expect(setCookie(response)).toMatch(new RegExp(`^sessionId=${SIGNED}; Path=/; HttpOnly$`));
  });

  it('options({ secure: false }) in a handler sends the cookie over HTTP; options({ secure: true }) withholds it', async () => {
    const off = await build(
      register,
      { cookie: { secure: true } },
      route((request) => {
        sessionOf(request).options({ secure: false });
        sessionOf(request).test = {};
        return 'ok';
      }),
    );
    const sent = await off.inject('/');
    expect(typeof sent.headers['set-cookie']).toBe('string');
    expect(setCookie(sent)).not.toContain('Secure');
    const on = await build(
      register,
      { cookie: { secure: false } },
      route((request) => {
        sessionOf(request).options({ secure: true });
        sessionOf(request).test = {};
        return 'ok';
      }),
    );
    const withheld = await on.inject({ url: '/', authority: 'fastify-session.test' });
    expect(withheld.statusCode).toBe(200);
    expect(withheld.headers['set-cookie']).toBeUndefined();
  });

  it("secure: 'auto' over plain HTTP: not Secure, SameSite=Lax", async () => {
    const fastify = await build(register, { cookie: { secure: 'auto' } }, withData, {
      before: (f) => encrypted(f, false),
    });
    const response = await fastify.inject('/');
    expect(setCookie(response)).toMatch(
      new RegExp(`^sessionId=${SIGNED}; Path=/; HttpOnly; SameSite=Lax$`),
    );
  });

  it("secure: 'auto' with sameSite 'none': Lax over HTTP, Secure; SameSite=None over TLS", async () => {
    const cookie = { secure: 'auto', sameSite: 'none' };
    const plain = await build(register, { cookie }, withData, {
      before: (f) => encrypted(f, false),
    });
    expect(setCookie(await plain.inject('/'))).toMatch(
      new RegExp(`^sessionId=${SIGNED}; Path=/; HttpOnly; SameSite=Lax$`),
    );
    const tls = await build(register, { cookie }, withData, { before: (f) => encrypted(f, true) });
    expect(setCookie(await tls.inject('/'))).toMatch(
      new RegExp(`^sessionId=${SIGNED}; Path=/; HttpOnly; Secure; SameSite=None$`),
    );
  });

  it("secure: 'auto' over TLS or X-Forwarded-Proto https: Secure", async () => {
    const tls = await build(register, { cookie: { secure: 'auto' } }, withData, {
      before: (f) => encrypted(f, true),
    });
    const expected = new RegExp(`^sessionId=${SIGNED}; Path=/; HttpOnly; Secure$`);
    expect(setCookie(await tls.inject('/'))).toMatch(expected);
    const proxied = await build(register, { cookie: { secure: 'auto' } }, withData);
    expect(setCookie(await proxied.inject({ url: '/', headers: HTTPS }))).toMatch(expected);
  });

  it('partitioned over TLS: Secure; Partitioned', async () => {
    const fastify = await build(
      register,
      { cookie: { secure: true, partitioned: true } },
      withData,
      { before: (f) => encrypted(f, true) },
    );
    expect(setCookie(await fastify.inject('/'))).toMatch(
      new RegExp(`^sessionId=${SIGNED}; Path=/; HttpOnly; Secure; Partitioned$`),
    );
  });

  it('maxAge wins over expires when both are configured', async () => {
    const fastify = await build(
      register,
      { cookie: { maxAge: 60_000, expires: new Date(34214461000) } },
      withData,
    );
    const before = Date.now();
    const expires = expiresOf(setCookie(await fastify.inject({ url: '/', headers: HTTPS })));
    expect(expires).toBeGreaterThan(before + 50_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 60_000);
  });

  it("a stored session's originalMaxAge wins over the configured maxAge", async () => {
    const store = new CallbackStore();
    const id = 'stored-session-with-its-own-maxage';
    const hour = 3_600_000;
    store.put(id, {
      cookie: { originalMaxAge: hour, expires: new Date(Date.now() + hour).toISOString() },
    });
    const fastify = await build(
      register,
      { store, cookie: { maxAge: 5 * hour } },
      route(() => 'ok'),
    );
    const response = await fastify.inject({
      url: '/',
      headers: { ...HTTPS, cookie: `sessionId=${sign(id, SECRET)}` },
    });
    const expires = expiresOf(setCookie(response));
    expect(Math.abs(expires - (Date.now() + hour))).toBeLessThan(5_000);
  });
});

describe.each(LIBRARIES)('option: secret, on %s', (name, register) => {
  async function registers(options: Options): Promise<unknown> {
    const fastify = Fastify();
    open.push(fastify);
    await fastify.register(fastifyCookie);
    fastify.register(async (f) => register(f, options));
    return fastify.ready().then(
      () => undefined,
      (error: unknown) => error,
    );
  }

  it('fails registration without a secret, with 31 characters, with [], with a Buffer, with a half signer', async () => {
    for (const secret of [
      undefined,
      'x'.repeat(31),
      [],
      Buffer.alloc(32, 1),
      { sign: (value: string) => value, unsign: true },
      { unsign: () => true },
    ]) {
      expect(await registers({ secret }), String(secret)).toBeInstanceOf(Error);
    }
  });

  it('accepts 32 characters, a short secret in a list, several secrets', async () => {
    for (const secret of ['y'.repeat(32), ['short'], ['y'.repeat(32), 'z'.repeat(30)]]) {
      expect(await registers({ secret }), String(secret)).toBeUndefined();
    }
  });

  it('a signer object or sha512: accepted by @fastify/session, a SessConfigError on sess (README: no custom signer)', async () => {
    const signer = { sign: (value: string) => value, unsign: () => ({ valid: false }) };
    for (const options of [{ secret: signer }, { secret: SECRET, algorithm: 'sha512' }]) {
      const error = await registers(options);
      if (name === INCUMBENT) expect(error).toBeUndefined();
      else expect((error as Error).name).toBe('SessConfigError');
    }
  });

  it('a list rotates: a cookie signed with an older secret is read, re-signed with the first, and its changes stored', async () => {
    const store = new CallbackStore();
    const id = 'aYb4uTIhdBXCfk_ylik4QN6-u26K0u0e';
    store.put(id, { test: 0, cookie: {} });
    const fresh = 'geheim';
    const fastify = await build(
      register,
      { secret: [fresh, SECRET], store },
      route(async (request) => {
        const session = sessionOf(request);
        const seen = { id: session.sessionId, test: session.test };
        session.test = (session.test as number) + 1;
        await session.save();
        return seen;
      }),
    );
    const old = await fastify.inject({
      url: '/',
      headers: { ...HTTPS, cookie: `sessionId=${sign(id, SECRET)}` },
    });
    expect(old.json()).toEqual({ id, test: 0 });
    expect(pair(old)).toBe(`sessionId=${sign(id, fresh)}`);
    const next = await fastify.inject({
      url: '/',
      headers: { ...HTTPS, cookie: `sessionId=${sign(id, fresh)}` },
    });
    expect(next.json()).toEqual({ id, test: 1 });
    expect(store.read(id)?.test).toBe(2);
  });

  it('a cookie with a bad signature: a new session, the bad value not sent back', async () => {
    const store = new CallbackStore();
    const fastify = await build(
      register,
      { store },
      route((request) => {
        sessionOf(request).test = {};
        return 'ok';
      }),
    );
    const response = await fastify.inject({
      url: '/',
      headers: { ...HTTPS, cookie: `sessionId=${SECRET}.badinvalidsignaturenoooo` },
    });
    expect(response.statusCode).toBe(200);
    expect(setCookie(response)).not.toContain('badinvalidsignaturenoooo');
    expect(setCookie(response)).toMatch(
      new RegExp(`^sessionId=${SIGNED}; Path=/; HttpOnly; Secure$`),
    );
    expect(store.calls.get).toBe(0);
  });
});

describe.each(LIBRARIES)('options: cookieName, cookiePrefix, on %s', (_name, register) => {
  it('cookieName names the cookie', async () => {
    const fastify = await build(
      register,
      { cookieName: 'anothername' },
      route((request) => {
        sessionOf(request).test = {};
        return 'ok';
      }),
    );
    const response = await fastify.inject({ url: '/', headers: HTTPS });
    expect(setCookie(response)).toMatch(
      new RegExp(`^anothername=${SIGNED}; Path=/; HttpOnly; Secure$`),
    );
  });

  it("cookiePrefix 's:' reads express-session's connect.sid (URL-encoded) and writes the same form", async () => {
    const store = new CallbackStore();
    const id = 'Qk_XT2K7-clT-x1tVvoY6tIQ83iP72KN';
    store.put(id, { user: 'ada', cookie: { originalMaxAge: null } });
    const fastify = await build(
      register,
      { cookieName: 'connect.sid', cookiePrefix: 's:', store },
      route((request) => ({ id: sessionOf(request).sessionId, user: sessionOf(request).user })),
    );
    const cookie = `connect.sid=${encodeURIComponent(`s:${sign(id, SECRET)}`)}`;
    const response = await fastify.inject({ url: '/', headers: { ...HTTPS, cookie } });
    expect(response.json()).toEqual({ id, user: 'ada' });
    expect(pair(response, 'connect.sid')).toBe(`connect.sid=s:${sign(id, SECRET)}`);
  });
});

describe.each(LIBRARIES)('path verification (cookie.path), on %s', (_name, register) => {
  const cases: [string, string, string, boolean][] = [
    ['/', '/', '/check', true],
    ['/check', '/check', '/check', true],
    ['/check', '/check', '/check/page1', true],
    ['/check', '/check', '/check_page1', false],
    ['/check', '/check', '/chick/page1', false],
    ['/check', '/check', '/chck', false],
    ['/check', '/check/index', '/check/page1', true],
    ['/check/', '/check/index', '/check/page1', true],
    ['/check', '/check', '/check?x=1', true],
    ['/check/', '/check/index', '/check', false],
  ];
  it.each(cases)('path %s: set at %s, read at %s -> %s', async (path, setAt, readAt, visible) => {
    const fastify = await build(register, { cookie: { secure: false, path } }, (f) => {
      f.post(setAt, async (request) => {
        sessionOf(request).foo = 'bar';
        return 'ok';
      });
      f.get(readAt.split('?')[0] as string, async (request, reply) => {
        const session = sessionOf(request);
        return reply.send({ foo: session?.foo ?? null, sessionId: session?.sessionId ?? null });
      });
    });
    const first = await fastify.inject({ method: 'POST', url: setAt });
    expect(first.statusCode).toBe(200);
    const second = await fastify.inject({ url: readAt, headers: { cookie: pair(first) } });
    expect(second.statusCode).toBe(200);
    expect(second.json().foo).toBe(visible ? 'bar' : null);
    if (!visible) {
      expect(second.json().sessionId).toBeNull();
      expect(second.headers['set-cookie']).toBeUndefined();
    }
  });
});

describe.each(LIBRARIES)('options: saveUninitialized, rolling, on %s', (name, register) => {
  it('saveUninitialized false: an untouched new session sends no cookie and is not stored', async () => {
    const store = new CallbackStore();
    const fastify = await build(
      register,
      { saveUninitialized: false, store },
      route(() => 'ok'),
    );
    const response = await fastify.inject({ url: '/', headers: HTTPS });
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(store.calls.set).toBe(0);
  });

  it('saveUninitialized false: a cookie that names no stored session is cleared', async () => {
    const fastify = await build(
      register,
      { saveUninitialized: false, cookie: { secure: false } },
      route(() => 'ok'),
    );
    const response = await fastify.inject({
      url: '/',
      headers: { cookie: `sessionId=${sign('Qk_XT2K7-clT-x1tVvoY6tIQ83iP72KN', SECRET)}` },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['set-cookie']).toBe(CLEARED);
  });

  it('saveUninitialized false: a forged cookie is cleared too', async () => {
    const fastify = await build(
      register,
      { saveUninitialized: false, cookie: { secure: false } },
      route(() => 'ok'),
    );
    const response = await fastify.inject({
      url: '/',
      headers: { cookie: 'sessionId=forged.value' },
    });
    expect(response.headers['set-cookie']).toBe(CLEARED);
  });

  it('no session cookie in the request: nothing is cleared', async () => {
    const fastify = await build(
      register,
      { saveUninitialized: false },
      route(() => 'ok'),
    );
    const response = await fastify.inject({
      url: '/',
      headers: { cookie: 'someOtherCookie=foobar' },
    });
    expect(response.headers['set-cookie']).toBeUndefined();
  });

  it('a POST whose empty JSON body is refused: a 400 and no cookie', async () => {
    const fastify = await build(register, { saveUninitialized: false }, (f) => {
      f.post('/test', async () => 'ok');
    });
    const response = await fastify.inject({
      method: 'POST',
      url: '/test',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('FST_ERR_CTP_EMPTY_JSON_BODY');
    expect(response.headers['set-cookie']).toBeUndefined();
  });

  it('rolling (default) over a callback store without touch: the unchanged session is re-sent', async () => {
    const store = new CallbackStore();
    const fastify = await build(
      register,
      { saveUninitialized: false, cookie: { secure: false, maxAge: 60_000 }, store },
      (f) => {
        f.post('/', async (request) => {
          sessionOf(request).userId = 42;
          return 'ok';
        });
        f.get('/', async (request) => ({ userId: sessionOf(request).userId }));
      },
    );
    const first = await fastify.inject({ method: 'POST', url: '/' });
    expect(store.calls.set).toBe(1);
    const second = await fastify.inject({ url: '/', headers: { cookie: pair(first) } });
    expect(second.json()).toEqual({ userId: 42 });
    expect(pair(second)).toBe(pair(first));
    // README "rolling touches instead of rewriting": no touch, no write on sess.
    expect(store.calls.set).toBe(name === INCUMBENT ? 2 : 1);
  });

  it('rolling false: an unchanged session gets no cookie and no write', async () => {
    const store = new CallbackStore();
    const fastify = await build(
      register,
      { rolling: false, cookie: { secure: false, maxAge: 10_000 }, store },
      route(() => 'ok'),
    );
    const first = await fastify.inject('/');
    const second = await fastify.inject({ url: '/', headers: { cookie: pair(first) } });
    expect(second.statusCode).toBe(200);
    expect(second.headers['set-cookie']).toBeUndefined();
    expect(store.calls.set).toBe(1);
  });

  it('rolling false: touch() moves session.cookie.expires', async () => {
    const fastify = await build(
      register,
      { rolling: false, cookie: { secure: false, maxAge: 10_000 } },
      route((request) => {
        sessionOf(request).touch();
        return String(sessionOf(request).cookie.expires?.getTime());
      }),
    );
    const first = await fastify.inject('/');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await fastify.inject({ url: '/', headers: { cookie: pair(first) } });
    expect(Number(second.body)).toBeGreaterThan(Number(first.body));
  });

  it('a modified session is written and its cookie sent, with or without rolling', async () => {
    for (const rolling of [true, false]) {
      const store = new CallbackStore();
      const fastify = await build(
        register,
        { rolling, saveUninitialized: false, cookie: { secure: false }, store },
        route((request) => {
          const session = sessionOf(request);
          session.count = ((session.count as number | undefined) ?? 0) + 1;
          return { count: session.count };
        }),
      );
      const first = await fastify.inject('/');
      const second = await fastify.inject({ url: '/', headers: { cookie: pair(first) } });
      expect(second.json()).toEqual({ count: 2 });
      expect(store.calls.set).toBe(2);
      if (rolling || name === INCUMBENT) expect(pair(second)).toBe(pair(first));
      // README: a browser-session cookie (no maxAge) is not re-sent unchanged
      // with rolling: false, as in express-session.
      else expect(second.headers['set-cookie']).toBeUndefined();
    }
  });

  it('rolling false with maxAge: a modified session is re-sent with its new expiry', async () => {
    const fastify = await build(
      register,
      { rolling: false, saveUninitialized: false, cookie: { secure: false, maxAge: 60_000 } },
      route((request) => {
        const session = sessionOf(request);
        session.count = ((session.count as number | undefined) ?? 0) + 1;
        return { count: session.count };
      }),
    );
    const first = await fastify.inject('/');
    const second = await fastify.inject({ url: '/', headers: { cookie: pair(first) } });
    expect(second.json()).toEqual({ count: 2 });
    expect(pair(second)).toBe(pair(first));
    expect(expiresOf(setCookie(second))).toBeGreaterThan(Date.now() + 50_000);
  });

  it('saveUninitialized false: regenerate() leaving an empty session: cleared on @fastify/session, stored and sent on sess', async () => {
    const store = new CallbackStore();
    const fastify = await build(
      register,
      { saveUninitialized: false, cookie: { secure: false }, store },
      (f) => {
        f.post('/', async (request) => {
          sessionOf(request).user = 'ada';
          return 'ok';
        });
        f.get('/', async (request) => {
          await sessionOf(request).regenerate();
          return 'ok';
        });
      },
    );
    const first = await fastify.inject({ method: 'POST', url: '/' });
    const second = await fastify.inject({ url: '/', headers: { cookie: pair(first) } });
    const stored = [...store.map.keys()];
    expect(stored).toHaveLength(1);
    if (name === INCUMBENT) {
      // Stored inside regenerate(), and the browser's cookie cleared: unreachable.
      expect(second.headers['set-cookie']).toBe(CLEARED);
    } else {
      // README "regenerate() writes once": a new id is a change, as in express-session.
      expect(pair(second)).toBe(`sessionId=${sign(stored[0] as string, SECRET)}`);
    }
  });
});

describe.each(LIBRARIES)('expired sessions in a callback store, on %s', (name, register) => {
  const id = 'Qk_XT2K7-clT-x1tVvoY6tIQ83iP72KN';
  const cookie = `sessionId=${sign(id, SECRET)}`;
  const past = () => new Date(Date.now() - 1000).toISOString();

  it('a session whose cookie.expires is past is not used: a new id, the old record destroyed', async () => {
    const store = new CallbackStore();
    store.put(id, { user: 'ada', cookie: { originalMaxAge: 100, expires: past() } });
    const fastify = await build(
      register,
      { store, cookie: { maxAge: 100 } },
      route((request) => ({ user: sessionOf(request).user ?? null })),
    );
    const response = await fastify.inject({ url: '/', headers: { ...HTTPS, cookie } });
    expect(response.json()).toEqual({ user: null });
    expect(pair(response)).not.toBe(cookie);
    expect(setCookie(response)).toMatch(
      /^sessionId=.*\..*; Path=\/; Expires=.*; HttpOnly; Secure$/,
    );
    expect(store.destroyed).toContain(id);
    expect(store.read(id)).toBeUndefined();
  });

  it('expires without originalMaxAge (a fixed expiry), past: not used either', async () => {
    const store = new CallbackStore();
    store.put(id, { user: 'ada', cookie: { expires: past() } });
    const fastify = await build(
      register,
      { store },
      route((request) => {
        sessionOf(request).test = {};
        return { user: sessionOf(request).user ?? null };
      }),
    );
    const response = await fastify.inject({ url: '/', headers: { ...HTTPS, cookie } });
    expect(response.json()).toEqual({ user: null });
    expect(pair(response)).not.toBe(cookie);
  });

  it('a live session expires after its maxAge: the next request gets a new id', async () => {
    const store = new CallbackStore();
    const fastify = await build(
      register,
      { store, cookie: { maxAge: 300, secure: false } },
      route(() => 'ok'),
    );
    const first = await fastify.inject('/');
    await new Promise((resolve) => setTimeout(resolve, 450));
    const second = await fastify.inject({ url: '/', headers: { cookie: pair(first) } });
    expect(pair(second)).not.toBe(pair(first));
    expect(store.calls.destroy).toBe(1);
  });

  it('the expired record cannot be destroyed (store error)', async () => {
    const store = new CallbackStore();
    store.put(id, { cookie: { expires: past() } });
    store.failDestroy = new Error('No can do');
    const fastify = await build(
      register,
      { store, cookie: { secure: false } },
      route((request) => {
        sessionOf(request).test = {};
        return 'ok';
      }),
    );
    const response = await fastify.inject({ url: '/', headers: { cookie } });
    expect(store.calls.destroy).toBe(1);
    if (name === INCUMBENT) {
      expect(response.statusCode).toBe(500);
      expect(response.json().message).toBe('No can do');
    } else {
      // README: removing an expired session is housekeeping; its failure is
      // not the request's.
      expect(response.statusCode).toBe(200);
      expect(pair(response)).not.toBe(cookie);
    }
  });
});

describe.each(LIBRARIES)('store errors, on %s', (name, register) => {
  /** README: sess wraps a store's error in a StoreError whose message names the store, the operation and the error. */
  function expectStoreError(response: LightMyRequestResponse, message: string): void {
    expect(response.statusCode).toBe(500);
    const body = response.json() as { message: string };
    if (name === INCUMBENT) expect(body.message).toBe(message);
    else expect(body.message).toBe(`CallbackStore store: ${message.slice(6)} failed: ${message}`);
  }

  const id = 'Qk_XT2K7-clT-x1tVvoY6tIQ83iP72KN';
  const cookie = `sessionId=${sign(id, SECRET)}`;

  it('set fails at the end of the request: a 500 carrying the store error, no cookie', async () => {
    const store = new CallbackStore();
    store.failSet = new Error('store.set');
    const fastify = await build(
      register,
      { store },
      route((request) => {
        sessionOf(request).test = {};
        return 'ok';
      }),
    );
    const response = await fastify.inject({ url: '/', headers: HTTPS });
    expectStoreError(response, 'store.set');
    expect(response.headers['set-cookie']).toBeUndefined();
  });

  it('get fails: a 500 carrying the store error', async () => {
    const store = new CallbackStore();
    store.failGet = new Error('store.get');
    const fastify = await build(
      register,
      { store },
      route(() => 'ok'),
    );
    const response = await fastify.inject({ url: '/', headers: { ...HTTPS, cookie } });
    expectStoreError(response, 'store.get');
  });

  it("get fails with code 'ENOENT' (a file store's missing session): a new session", async () => {
    const store = new CallbackStore();
    store.failGet = Object.assign(new Error('no such file'), { code: 'ENOENT' });
    const fastify = await build(
      register,
      { store },
      route((request) => {
        sessionOf(request).test = {};
        return 'ok';
      }),
    );
    const response = await fastify.inject({ url: '/', headers: { ...HTTPS, cookie } });
    expect(response.statusCode).toBe(200);
    expect(setCookie(response)).not.toContain(sign(id, SECRET));
    expect(setCookie(response)).toMatch(
      new RegExp(`^sessionId=${SIGNED}; Path=/; HttpOnly; Secure$`),
    );
  });
});

describe.each(LIBRARIES)('request.session, on %s', (name, register) => {
  it('exists with sessionId, encryptedSessionId (the signed id) and cookie', async () => {
    const fastify = await build(
      register,
      { cookie: { secure: false } },
      route((request) => {
        const session = sessionOf(request);
        return {
          id: session.sessionId,
          signed: session.encryptedSessionId,
          cookie: typeof session.cookie,
        };
      }),
    );
    const body = (await fastify.inject('/')).json();
    expect(body.id).toMatch(/^[\w-]{32}$/);
    expect(body.signed).toBe(sign(body.id, SECRET));
    expect(body.cookie).toBe('object');
  });

  it('default ids: 32 characters of base64url, no repeats', async () => {
    const ids = new Set<string>();
    const fastify = await build(
      register,
      { cookie: { secure: false } },
      route((request) => sessionOf(request).sessionId),
    );
    for (let i = 0; i < 200; i++) ids.add((await fastify.inject('/')).body);
    expect(ids.size).toBe(200);
    for (const id of ids) expect(id).toMatch(/^[\w-]{32}$/);
  });

  it('get / set, and data kept across requests (the whole Set-Cookie sent back as Cookie)', async () => {
    const fastify = await build(register, { cookie: { secure: false } }, (f) => {
      f.get('/', async (request) => {
        sessionOf(request).set('foo', 'bar');
        return { foo: sessionOf(request).get('foo') };
      });
      f.get('/check', async (request) => ({ foo: sessionOf(request).foo ?? null }));
    });
    const first = await fastify.inject('/');
    expect(first.json()).toEqual({ foo: 'bar' });
    const second = await fastify.inject({
      url: '/check',
      headers: { cookie: first.headers['set-cookie'] as string },
    });
    expect(second.json()).toEqual({ foo: 'bar' });
  });

  it('idGenerator without using the request', async () => {
    let n = 0;
    const fastify = await build(
      register,
      { cookie: { secure: false }, idGenerator: () => `custom-${++n}-${'x'.repeat(20)}` },
      route((request) => sessionOf(request).sessionId),
    );
    expect((await fastify.inject('/')).body).toMatch(/^custom-1-/);
  });

  it.each([true, false])(
    'idGenerator(request) reads the session at regenerate() (rolling %s)',
    async (rolling) => {
      let n = 0;
      const fastify = await build(
        register,
        {
          rolling,
          cookie: { secure: false, maxAge: 10_000 },
          idGenerator: (request?: FastifyRequest) =>
            `${request && sessionOf(request)?.returningVisitor ? 'returningVisitor' : 'custom'}-${++n}`,
        },
        (f) => {
          f.get('/', async (request) => sessionOf(request).sessionId);
          f.get('/login', (request, reply) => {
            sessionOf(request).returningVisitor = true;
            sessionOf(request).regenerate((error) => {
              if (error) reply.status(500).send(String(error));
              else reply.send(`OK ${sessionOf(request).sessionId}`);
            });
          });
        },
      );
      const first = await fastify.inject('/');
      expect(first.body).toMatch(/^custom-/);
      const login = await fastify.inject({ url: '/login', headers: { cookie: pair(first) } });
      expect(login.statusCode).toBe(200);
      expect(login.body).toMatch(/^OK returningVisitor-/);
      const after = await fastify.inject({ url: '/', headers: { cookie: pair(login) } });
      expect(after.body).toMatch(/^returningVisitor-/);
    },
  );

  it('regenerate(callback): a new id on the next request', async () => {
    let before = '';
    const fastify = await build(register, { cookie: { secure: false } }, (f) => {
      f.get('/', (request, reply) => {
        before = sessionOf(request).sessionId;
        sessionOf(request).regenerate((error) => reply.send(error ? 'error' : 'ok'));
      });
      f.get('/check', async (request) => sessionOf(request).sessionId);
    });
    const first = await fastify.inject('/');
    const check = await fastify.inject({ url: '/check', headers: { cookie: pair(first) } });
    expect(check.body).not.toBe(before);
    expect(check.body).toMatch(/^[\w-]{32}$/);
  });

  it('destroy(callback): no error, request.session is null', async () => {
    let seen: { err: unknown; session: unknown } | undefined;
    const fastify = await build(register, { saveUninitialized: false }, (f) => {
      f.get('/', (request, reply) => {
        sessionOf(request).destroy((err) => {
          seen = { err, session: (request as { session: unknown }).session };
          reply.send('ok');
        });
      });
    });
    expect((await fastify.inject('/')).statusCode).toBe(200);
    expect(seen?.err ?? null).toBeNull();
    expect(seen?.session).toBeNull();
  });

  it('destroy(callback) with a failing store: the store error', async () => {
    const store = new CallbackStore();
    store.failDestroy = new Error('ErrorStore#destroy');
    let seen: unknown;
    const fastify = await build(register, { saveUninitialized: false, store }, (f) => {
      f.get('/', (request, reply) => {
        sessionOf(request).destroy((err) => {
          seen = err;
          reply.send('ok');
        });
      });
    });
    expect((await fastify.inject('/')).statusCode).toBe(200);
    expect(seen).toBeInstanceOf(Error);
    expect(String((seen as Error).message)).toContain('ErrorStore#destroy');
  });

  /** A handler that awaits `call(session)` and answers with how it settled. */
  function settles(call: (session: AnySession) => Promise<void>) {
    return route(async (request) => {
      try {
        await call(sessionOf(request));
        return { settled: 'resolved' };
      } catch (error) {
        return { settled: 'rejected', message: (error as Error).message };
      }
    });
  }

  it('promises: destroy, regenerate, reload, save resolve on a working store', async () => {
    for (const method of ['destroy', 'regenerate', 'reload', 'save'] as const) {
      const fastify = await build(
        register,
        { saveUninitialized: false, cookie: { secure: false } },
        (f) => {
          f.post('/', async (request) => {
            sessionOf(request).user = 'ada';
            return 'ok';
          });
          settles((session) => session[method]())(f);
        },
      );
      const first = await fastify.inject({ method: 'POST', url: '/' });
      const response = await fastify.inject({ url: '/', headers: { cookie: pair(first) } });
      expect(response.json(), method).toEqual({ settled: 'resolved' });
    }
  });

  it('promises reject with the store error: destroy, reload, save', async () => {
    const cases: [
      string,
      'failDestroy' | 'failGet' | 'failSet',
      (session: AnySession) => Promise<void>,
    ][] = [
      ['destroy', 'failDestroy', (session) => session.destroy()],
      ['reload', 'failGet', (session) => session.reload()],
      ['save', 'failSet', (session) => session.save()],
    ];
    for (const [method, failure, call] of cases) {
      const store = new CallbackStore();
      const fastify = await build(
        register,
        { saveUninitialized: false, cookie: { secure: false }, store },
        (f) => {
          f.post('/', async (request) => {
            sessionOf(request).user = 'ada';
            return 'ok';
          });
          f.get('/', async (request) => {
            store[failure] = new Error('no can do');
            try {
              await call(sessionOf(request));
              return { settled: 'resolved' };
            } catch (error) {
              return { settled: 'rejected', message: (error as Error).message };
            } finally {
              store[failure] = undefined;
            }
          });
        },
      );
      const first = await fastify.inject({ method: 'POST', url: '/' });
      const response = await fastify.inject({ url: '/', headers: { cookie: pair(first) } });
      const body = response.json();
      expect(body.settled, method).toBe('rejected');
      expect(body.message, method).toContain('no can do');
    }
  });

  it('regenerate() when the store cannot write: rejects on @fastify/session, resolves on sess; the reply fails on both', async () => {
    const store = new CallbackStore();
    let settled = '';
    const fastify = await build(register, { saveUninitialized: false, store }, (f) => {
      f.get('/', async (request) => {
        store.failSet = new Error('no can do');
        sessionOf(request).user = 'ada';
        settled = await sessionOf(request)
          .regenerate(['user'])
          .then(
            () => 'resolved',
            (error: Error) => `rejected: ${error.message}`,
          );
        return 'ok';
      });
    });
    const response = await fastify.inject({ url: '/', headers: HTTPS });
    expect(response.statusCode).toBe(500);
    expect(response.json().message).toContain('no can do');
    // README "regenerate() writes once": the write, and its error, come with the reply.
    expect(settled).toBe(name === INCUMBENT ? 'rejected: no can do' : 'resolved');
  });

  it('reload(callback) drops an unsaved change of a stored session', async () => {
    const fastify = await build(register, { cookie: { secure: false } }, (f) => {
      f.post('/', async (request) => {
        sessionOf(request).someData = 'stored';
        return 'ok';
      });
      f.get('/', (request, reply) => {
        sessionOf(request).someData = 'changed';
        sessionOf(request).reload((err) => {
          reply.send({ err: err ?? null, someData: sessionOf(request).someData ?? null });
        });
      });
    });
    const first = await fastify.inject({ method: 'POST', url: '/' });
    const response = await fastify.inject({ url: '/', headers: { cookie: pair(first) } });
    expect(response.json()).toEqual({ err: null, someData: 'stored' });
  });

  it('save(callback) then reload(callback): the saved data stays', async () => {
    const fastify = await build(
      register,
      { saveUninitialized: false, cookie: { secure: false } },
      (f) => {
        f.get('/', (request, reply) => {
          sessionOf(request).someData = 'some-data';
          sessionOf(request).save((saveErr) => {
            sessionOf(request).reload((reloadErr) => {
              reply.send({
                errors: [saveErr ?? null, reloadErr ?? null],
                someData: sessionOf(request).someData ?? null,
              });
            });
          });
        });
      },
    );
    const response = await fastify.inject('/');
    expect(response.json()).toEqual({ errors: [null, null], someData: 'some-data' });
  });

  it('reload() of a new session that was never stored', async () => {
    const fastify = await build(
      register,
      { saveUninitialized: false, cookie: { secure: false } },
      (f) => {
        f.get('/', (request, reply) => {
          sessionOf(request).someData = 'some-data';
          sessionOf(request).reload((err) => {
            reply.send({
              err: err ? ((err as { code?: string }).code ?? 'error') : null,
              someData: (request as { session: AnySession | null }).session?.someData ?? null,
            });
          });
        });
      },
    );
    const response = await fastify.inject('/');
    expect(response.statusCode).toBe(200);
    if (name === INCUMBENT) expect(response.json()).toEqual({ err: null, someData: null });
    else expect(response.json()).toEqual({ err: 'SESS_NOT_FOUND', someData: 'some-data' });
  });

  it('options() per request: maxAge for this response, not a modification', async () => {
    const store = new CallbackStore();
    const fastify = await build(
      register,
      { saveUninitialized: false, cookie: { secure: false }, store },
      (f) => {
        f.post('/', async (request) => {
          sessionOf(request).user = 'ada';
          sessionOf(request).options({ maxAge: 3_600_000 });
          return { modified: sessionOf(request).isModified() };
        });
        f.get('/', async (request) => {
          sessionOf(request).options({ maxAge: 3_600_000 });
          return { modified: sessionOf(request).isModified() };
        });
      },
    );
    const first = await fastify.inject({ method: 'POST', url: '/' });
    expect(Math.abs(expiresOf(setCookie(first)) - (Date.now() + 3_600_000))).toBeLessThan(5_000);
    const anonymous = await fastify.inject('/');
    expect(anonymous.json()).toEqual({ modified: false });
    expect(anonymous.headers['set-cookie']).toBeUndefined();
  });
});

describe.each(LIBRARIES)('fastify.decryptSession, on %s', (_name, register) => {
  it('loads the stored session a cookie value names onto any object', async () => {
    const store = new CallbackStore();
    const id = 'Qk_XT2K7-clT-x1tVvoY6tIQ83iP72KN';
    store.put(id, {
      testData: 'this is a test',
      cookie: { originalMaxAge: null, path: '/', httpOnly: true },
    });
    const fastify = await build(
      register,
      { store },
      route(() => 'ok'),
    );
    const target: { session?: AnySession } = {};
    const err = await new Promise((resolve) => {
      (
        fastify as unknown as { decryptSession: (v: string, r: object, cb: Callback) => void }
      ).decryptSession(sign(id, SECRET), target, resolve);
    });
    expect(err ?? null).toBeNull();
    expect(target.session?.testData).toBe('this is a test');
    expect(target.session?.sessionId).toBe(id);
    expect(target.session?.cookie.maxAge).toBeNull();
  });

  it('a value that names nothing: a new session with the cookie options given', async () => {
    const fastify = await build(
      register,
      {},
      route(() => 'ok'),
    );
    const target: { session?: AnySession } = {};
    await new Promise((resolve) => {
      (
        fastify as unknown as {
          decryptSession: (v: string, r: object, o: object, cb: Callback) => void;
        }
      ).decryptSession(
        sign('nobody-has-this-id-at-all-000000', SECRET),
        target,
        { maxAge: 86400 },
        resolve,
      );
    });
    expect(target.session?.sessionId).toMatch(/^[\w-]{32}$/);
    expect(target.session?.sessionId).not.toBe('nobody-has-this-id-at-all-000000');
    expect(target.session?.cookie.originalMaxAge).toBe(86400);
    expect(target.session?.cookie.maxAge).toBeGreaterThan(86000);
  });
});

describe.each(LIBRARIES)('more of @fastify/session README, on %s', (name, register) => {
  it('isModified() and isSaved() through a request: set, save(), set again', async () => {
    const fastify = await build(
      register,
      { saveUninitialized: false, cookie: { secure: false } },
      route(async (request) => {
        const session = sessionOf(request) as AnySession & { isSaved(): boolean };
        const seen: [boolean, boolean][] = [[session.isModified(), session.isSaved()]];
        session.user = 'ada';
        seen.push([session.isModified(), session.isSaved()]);
        await session.save();
        seen.push([session.isModified(), session.isSaved()]);
        session.user = 'grace';
        seen.push([session.isModified(), session.isSaved()]);
        return seen;
      }),
    );
    const response = await fastify.inject('/');
    expect(response.json()).toEqual([
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ]);
    expect(response.headers['set-cookie']).toBeDefined();
  });

  it('saveUninitialized true, rolling false: the new session gets its cookie once', async () => {
    const store = new CallbackStore();
    const fastify = await build(
      register,
      { rolling: false, cookie: { secure: false }, store },
      route(() => 'ok'),
    );
    const first = await fastify.inject('/');
    expect(store.calls.set).toBe(1);
    const second = await fastify.inject({ url: '/', headers: { cookie: pair(first) } });
    expect(second.headers['set-cookie']).toBeUndefined();
    expect(store.calls.set).toBe(1);
  });

  it('rolling true with maxAge: each response moves the Expires', async () => {
    const fastify = await build(
      register,
      { cookie: { secure: false, maxAge: 60_000 } },
      route(() => 'ok'),
    );
    const first = await fastify.inject('/');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = await fastify.inject({ url: '/', headers: { cookie: pair(first) } });
    expect(pair(second)).toBe(pair(first));
    expect(expiresOf(setCookie(second))).toBeGreaterThan(expiresOf(setCookie(first)));
  });

  it('an onRequest hook after the plugin that replies with session data: the session is saved', async () => {
    const store = new CallbackStore();
    const fastify = await build(
      register,
      { saveUninitialized: false, cookie: { secure: false }, store },
      (f) => {
        f.addHook('onRequest', async (request, reply) => {
          sessionOf(request).early = 'yes';
          return reply.send('early');
        });
        f.get('/', async () => 'never');
      },
    );
    const response = await fastify.inject('/');
    expect(response.body).toBe('early');
    const id = pair(response).split('=')[1]?.split('.')[0] as string;
    expect(store.read(id)?.early).toBe('yes');
  });

  it('an idGenerator that throws: a 500, and the app keeps serving', async () => {
    let fail = true;
    const fastify = await build(
      register,
      {
        cookie: { secure: false },
        idGenerator: () => {
          if (fail) throw new Error('no ids today');
          return 'x'.repeat(32);
        },
      },
      route(() => 'ok'),
    );
    const failed = await fastify.inject('/');
    expect(failed.statusCode).toBe(500);
    expect(failed.json().message).toBe('no ids today');
    fail = false;
    expect((await fastify.inject('/')).statusCode).toBe(200);
  });

  it('a store whose get and set throw instead of calling back: a 500 each time', async () => {
    const store = {
      get(): void {
        throw new Error('Not implemented');
      },
      set(): void {
        throw new Error('Not implemented');
      },
      destroy(_id: string, callback: Callback): void {
        callback(new Error('ErrorStore#destroy'));
      },
    };
    const fastify = await build(
      register,
      { store, cookie: { secure: false } },
      route((request) => {
        sessionOf(request).test = {};
        return 'ok';
      }),
    );
    const fresh = await fastify.inject('/');
    expect(fresh.statusCode).toBe(500);
    const returning = await fastify.inject({
      url: '/',
      headers: { cookie: `sessionId=${sign('Qk_XT2K7-clT-x1tVvoY6tIQ83iP72KN', SECRET)}` },
    });
    expect(returning.statusCode).toBe(500);
    expect(returning.json().message).toContain('Not implemented');
    void name;
  });
});

describe.each(LIBRARIES)(
  'cookie options as @fastify/session reads them, on %s',
  (_name, register) => {
    const withData = route((request) => {
      sessionOf(request).test = {};
      return 'ok';
    });
    const cases: [string, Options, string][] = [
      ["path ''", { path: '' }, 'Path=/; HttpOnly; Secure'],
      ['maxAge 0 (no expiry)', { maxAge: 0 }, 'Path=/; HttpOnly; Secure'],
      ["secure 'true'", { secure: 'true' }, 'Path=/; HttpOnly; Secure'],
      [
        'expires as a date string',
        { expires: '2100-01-01T00:00:00Z' },
        'Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT; HttpOnly; Secure',
      ],
      [
        'expires as epoch ms',
        { expires: 4102444800000 },
        'Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT; HttpOnly; Secure',
      ],
      [
        'a past expires date',
        { expires: new Date(34214461000) },
        'Path=/; Expires=Mon, 01 Feb 1971 00:01:01 GMT; HttpOnly; Secure',
      ],
    ];
    it.each(cases)('%s', async (_label, cookie, attributes) => {
      const fastify = await build(register, { cookie }, withData);
      const response = await fastify.inject({ url: '/', headers: HTTPS });
      expect(setCookie(response)).toMatch(new RegExp(`^sessionId=${SIGNED}; ${attributes}$`));
    });

    it("path '' keeps sessions on every path", async () => {
      const fastify = await build(register, { cookie: { path: '', secure: false } }, (f) => {
        f.post('/a/b', async (request) => {
          sessionOf(request).user = 'ada';
          return 'ok';
        });
        f.get('/c', async (request) => ({ user: sessionOf(request).user ?? null }));
      });
      const first = await fastify.inject({ method: 'POST', url: '/a/b' });
      const second = await fastify.inject({ url: '/c', headers: { cookie: pair(first) } });
      expect(second.json()).toEqual({ user: 'ada' });
    });

    it('options({ maxAge: 0 }) in a handler: a browser-session cookie for this response', async () => {
      const fastify = await build(
        register,
        { cookie: { secure: false, maxAge: 60_000 } },
        route((request) => {
          sessionOf(request).options({ maxAge: 0 });
          sessionOf(request).test = {};
          return 'ok';
        }),
      );
      expect(setCookie(await fastify.inject('/'))).toMatch(
        new RegExp(`^sessionId=${SIGNED}; Path=/; HttpOnly$`),
      );
    });

    it("options({ sameSite }) on a returning session keeps its own lifetime (a 'remember me' maxAge)", async () => {
      const month = 30 * 86_400_000;
      const fastify = await build(register, { cookie: { secure: false } }, (f) => {
        f.post('/remember', async (request) => {
          const session = sessionOf(request);
          session.user = 'ada';
          (session.cookie as { maxAge: number | null }).maxAge = month;
          return 'ok';
        });
        f.get('/', async (request) => {
          sessionOf(request).options({ sameSite: 'strict' });
          return 'ok';
        });
      });
      const first = await fastify.inject({ method: 'POST', url: '/remember' });
      const later = await fastify.inject({ url: '/', headers: { cookie: pair(first) } });
      expect(setCookie(later)).toContain('SameSite=Strict');
      expect(Math.abs(expiresOf(setCookie(later)) - (Date.now() + month))).toBeLessThan(5_000);
    });

    it('options() at a login that changes the session: the attributes stay on later responses', async () => {
      const store = new CallbackStore();
      const fastify = await build(register, { cookie: { secure: false }, store }, (f) => {
        f.post('/login', async (request) => {
          sessionOf(request).user = 'ada';
          sessionOf(request).options({
            maxAge: 86_400_000,
            sameSite: 'strict',
            domain: 'example.com',
          });
          return 'ok';
        });
        f.get('/', async (request) => ({ user: sessionOf(request).user ?? null }));
      });
      const login = await fastify.inject({ method: 'POST', url: '/login' });
      const attributes = new RegExp(
        `^sessionId=${SIGNED}; Domain=example.com; Path=/; Expires=[^;]+; HttpOnly; SameSite=Strict$`,
      );
      expect(setCookie(login)).toMatch(attributes);
      const later = await fastify.inject({ url: '/', headers: { cookie: pair(login) } });
      expect(later.json()).toEqual({ user: 'ada' });
      expect(setCookie(later)).toMatch(attributes);
      expect(Math.abs(expiresOf(setCookie(later)) - (Date.now() + 86_400_000))).toBeLessThan(5_000);
    });

    it('options({ expires: <date string> }) in a handler: that Expires', async () => {
      const fastify = await build(
        register,
        { cookie: { secure: false } },
        route((request) => {
          sessionOf(request).options({ expires: '2100-01-01T00:00:00Z' });
          sessionOf(request).test = {};
          return 'ok';
        }),
      );
      expect(setCookie(await fastify.inject('/'))).toMatch(
        new RegExp(
          `^sessionId=${SIGNED}; Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT; HttpOnly$`,
        ),
      );
    });
  },
);

describe.each(LIBRARIES)('request.sessionStore on the default store, on %s', (_name, register) => {
  it('set / get / destroy answer through callbacks; a session seeded so is loaded by its cookie', async () => {
    const id = 'Qk_XT2K7-clT-x1tVvoY6tIQ83iP72KN';
    type CallbackApi = {
      set(id: string, session: unknown, callback: Callback): void;
      get(id: string, callback: (err: unknown, session?: { user?: string } | null) => void): void;
      destroy(id: string, callback: Callback): void;
    };
    const storeOf = (request: FastifyRequest) =>
      (request as unknown as { sessionStore: CallbackApi }).sessionStore;
    const fastify = await build(register, { cookie: { secure: false } }, (f) => {
      f.get('/seed', (request, reply) => {
        const record = { user: 'ada', cookie: { originalMaxAge: null, path: '/', httpOnly: true } };
        storeOf(request).set(id, record, (err) => reply.send({ err: err ?? null }));
      });
      f.get('/peek', (request, reply) => {
        storeOf(request).get(id, (err, session) =>
          reply.send({ err: err ?? null, user: session?.user ?? null }),
        );
      });
      f.get('/drop', (request, reply) => {
        storeOf(request).destroy(id, (err) => reply.send({ err: err ?? null }));
      });
      f.get('/', async (request) => ({ user: sessionOf(request).user ?? null }));
    });
    const cookie = `sessionId=${sign(id, SECRET)}`;
    expect((await fastify.inject('/seed')).json()).toEqual({ err: null });
    expect((await fastify.inject('/peek')).json()).toEqual({ err: null, user: 'ada' });
    expect((await fastify.inject({ url: '/', headers: { cookie } })).json()).toEqual({
      user: 'ada',
    });
    expect((await fastify.inject('/drop')).json()).toEqual({ err: null });
    expect((await fastify.inject('/peek')).json()).toEqual({ err: null, user: null });
  });
});

describe.each(LIBRARIES)(
  'secret rotation and decryptSession edge cases, on %s',
  (name, register) => {
    const id = 'aYb4uTIhdBXCfk_ylik4QN6-u26K0u0e';

    it('with a prefix, a cookie without it is not read (a new session)', async () => {
      const store = new CallbackStore();
      store.put(id, { user: 'ada', cookie: { originalMaxAge: null } });
      const fastify = await build(
        register,
        { cookiePrefix: 's:', store, cookie: { secure: false } },
        route((request) => ({ user: sessionOf(request).user ?? null })),
      );
      const response = await fastify.inject({
        url: '/',
        headers: { cookie: `sessionId=${sign(id, SECRET)}` },
      });
      expect(response.json()).toEqual({ user: null });
      expect(store.calls.get).toBe(0);
    });

    it('saveUninitialized false, rolling false, an unchanged session under an older secret: re-signed on sess, cleared on @fastify/session', async () => {
      const store = new CallbackStore();
      store.put(id, { user: 'ada', cookie: { originalMaxAge: null } });
      const fresh = 'a new secret, first in the list, 32+ chars';
      const fastify = await build(
        register,
        {
          secret: [fresh, SECRET],
          saveUninitialized: false,
          rolling: false,
          store,
          cookie: { secure: false },
        },
        route((request) => ({ user: sessionOf(request).user ?? null })),
      );
      const response = await fastify.inject({
        url: '/',
        headers: { cookie: `sessionId=${sign(id, SECRET)}` },
      });
      expect(response.json()).toEqual({ user: 'ada' });
      if (name === INCUMBENT) {
        // The browser loses a live session at a secret rotation (logged out).
        expect(response.headers['set-cookie']).toBe(CLEARED);
      } else {
        // README: re-signed with the first secret, the session kept.
        expect(pair(response)).toBe(`sessionId=${sign(id, fresh)}`);
      }
    });

    it('decryptSession: a store error reaches the callback', async () => {
      const store = new CallbackStore();
      const fastify = await build(
        register,
        { store },
        route(() => 'ok'),
      );
      store.failGet = new Error('store.get');
      const err = await new Promise((resolve) => {
        (
          fastify as unknown as { decryptSession: (v: string, r: object, cb: Callback) => void }
        ).decryptSession(sign(id, SECRET), {}, resolve);
      });
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toContain('store.get');
    });

    it('decryptSession: an expired session gives a new one, and the old record is removed', async () => {
      const store = new CallbackStore();
      store.put(id, {
        user: 'ada',
        cookie: { originalMaxAge: null, expires: new Date(Date.now() - 1000).toISOString() },
      });
      const fastify = await build(
        register,
        { store },
        route(() => 'ok'),
      );
      const target: { session?: AnySession } = {};
      const err = await new Promise((resolve) => {
        (
          fastify as unknown as { decryptSession: (v: string, r: object, cb: Callback) => void }
        ).decryptSession(sign(id, SECRET), target, resolve);
      });
      expect(err ?? null).toBeNull();
      expect(target.session?.sessionId).not.toBe(id);
      expect(target.session?.user).toBeUndefined();
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(store.read(id)).toBeUndefined();
    });
  },
);
