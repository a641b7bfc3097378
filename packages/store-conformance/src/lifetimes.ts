import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer, get as httpGet, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Differential lifetime checks: the same cookie settings served by
 * express-session + an incumbent store and by @sess/express + a sess store,
 * one after the other on the same backend, and what each leaves there: the
 * record's expiry in the backend and the cookie's in the browser. A store's
 * test supplies the two middlewares and a reader of its backend's expiry.
 */

/** A Connect-style middleware: express-session's and @sess/express's both are. */
export type Middleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/** One side of the comparison. */
export interface LifetimeSide {
  /** `'connect-redis'`, `'sess'`: for messages. */
  label: string;
  middleware: Middleware;
}

/** The cookie settings a case runs with (same for both sides). */
export interface CookieCase {
  label: string;
  maxAge?: number;
  rolling?: boolean;
}

/** maxAge set / unset (a browser-session cookie), each with and without `rolling`. */
export const COOKIE_CASES: readonly CookieCase[] = [
  { label: 'maxAge 1h', maxAge: 3_600_000 },
  { label: 'maxAge unset (browser-session cookie)' },
  { label: 'maxAge 1h, rolling', maxAge: 3_600_000, rolling: true },
  { label: 'maxAge unset, rolling', rolling: true },
];

/** An app on a loopback port: `/write` changes the session, `/read` only reads it. */
export interface Served {
  url: string;
  close(): Promise<void>;
}

export async function serve(middleware: Middleware): Promise<Served> {
  const server = createServer((req, res) => {
    middleware(req, res, (error) => {
      if (error) {
        res.statusCode = 500;
        res.end(String(error));
        return;
      }
      const session = (req as IncomingMessage & { session?: Record<string, unknown> }).session;
      if (!session) {
        res.statusCode = 500;
        res.end('no session');
        return;
      }
      if (req.url?.startsWith('/write')) session.n = Number(session.n ?? 0) + 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ n: session.n ?? null }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What one response said. */
export interface Answer {
  status: number;
  n: unknown;
  /** `name=value` of the session cookie the response set, if it set one. */
  pair: string | undefined;
  /**
   * The cookie's expiry in epoch ms as the browser keeps it: `null` for a
   * browser-session cookie; `undefined` when the response set no cookie.
   */
  browserExpiry: number | null | undefined;
}

export async function ask(url: string, path: '/write' | '/read', pair?: string): Promise<Answer> {
  const response = await fetch(`${url}${path}`, {
    headers: pair ? { cookie: pair } : {},
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let n: unknown = null;
  try {
    n = (JSON.parse(text) as { n: unknown }).n;
  } catch {
    n = text;
  }
  const header = response.headers.getSetCookie()[0];
  if (header === undefined)
    return { status: response.status, n, pair: undefined, browserExpiry: undefined };
  const parts = header.split(';').map((part) => part.trim());
  const maxAge = parts.find((part) => /^max-age=/i.test(part));
  const expires = parts.find((part) => /^expires=/i.test(part));
  const browserExpiry =
    maxAge !== undefined
      ? Date.now() + Number(maxAge.slice(8)) * 1000
      : expires !== undefined
        ? Date.parse(expires.slice(8))
        : null;
  return { status: response.status, n, pair: parts[0], browserExpiry };
}

/** The session id a signed `connect.sid=s%3A<id>.<signature>` cookie carries. */
export function idOf(pair: string): string {
  const value = decodeURIComponent(pair.slice(pair.indexOf('=') + 1));
  if (!value.startsWith('s:')) throw new Error(`not a signed session cookie: ${pair}`);
  return value.slice(2, value.lastIndexOf('.'));
}

/** Expiry in epoch ms the backend holds for a session id; `null` when there is no record. */
export type ExpiryReader = (id: string) => Promise<number | null>;

/** What one writer-then-reader run left behind. */
export interface Run {
  writer: string;
  reader: string;
  id: string;
  /** Backend expiry right after the writer's `/write`. */
  backendAfterWrite: number | null;
  /** Browser expiry after the write (`null`: browser-session cookie). */
  browserAfterWrite: number | null;
  /** Backend expiry after the reader's `/read`, `pause` ms later. */
  backendAfterRead: number | null;
  /** Browser expiry after the read: a new cookie's, else the write's. */
  browserAfterRead: number | null;
  /** What the reader saw of the writer's data (1 when it read the session). */
  readN: unknown;
}

/**
 * The writer starts a session (`/write`), `pause` ms pass, then the reader
 * serves an unmodified request on it (`/read`). Records both expiries after
 * each step.
 */
export async function writeThenRead(
  writer: { label: string; url: string },
  reader: { label: string; url: string },
  expiryOf: ExpiryReader,
  pause: number,
): Promise<Run> {
  const wrote = await ask(writer.url, '/write');
  if (wrote.status !== 200 || wrote.pair === undefined || wrote.browserExpiry === undefined) {
    throw new Error(`${writer.label} /write answered ${wrote.status} without a session cookie`);
  }
  const id = idOf(wrote.pair);
  const backendAfterWrite = await expiryOf(id);
  await new Promise((resolve) => setTimeout(resolve, pause));
  const read = await ask(reader.url, '/read', wrote.pair);
  if (read.status !== 200) throw new Error(`${reader.label} /read answered ${read.status}`);
  const backendAfterRead = await expiryOf(id);
  return {
    writer: writer.label,
    reader: reader.label,
    id,
    backendAfterWrite,
    browserAfterWrite: wrote.browserExpiry,
    backendAfterRead,
    browserAfterRead: read.browserExpiry === undefined ? wrote.browserExpiry : read.browserExpiry,
    readN: read.n,
  };
}

/**
 * When the user is logged out: the earlier of the backend's expiry and the
 * browser's (a browser-session cookie lives as long as the browser, so only
 * the backend's counts). `null` when the backend holds nothing.
 */
export function effectiveExpiry(backend: number | null, browser: number | null): number | null {
  if (backend === null) return null;
  return browser === null ? backend : Math.min(backend, browser);
}

/** Within a second: the incumbents round to whole seconds, the requests run in parallel. */
export const TOLERANCE_MS = 1_000;

function near(a: number | null, b: number | null): boolean {
  if (a === null || b === null) return a === b;
  return Math.abs(a - b) <= TOLERANCE_MS;
}

const show = (value: number | null) =>
  value === null
    ? 'none'
    : `now${value - Date.now() >= 0 ? '+' : ''}${Math.round((value - Date.now()) / 1000)}s`;

/**
 * The differences between runs of one cookie case that would change when a
 * user is logged out, as sentences (empty when there are none). `runs[0]` is
 * the incumbent writing and reading; the others are compared with it:
 * - every reader saw the writer's data;
 * - the same backend expiry after the write (±1 s) and the same cookie;
 * - the same effective expiry after the read (earlier of backend and browser);
 * - the same backend expiry after the read, except where the incumbent's
 *   express-session touched a fixed-expiry cookie without `rolling` (sess
 *   does not: its README's difference), where the record must keep the
 *   expiry of the write (the effective expiry is checked above).
 */
export function lifetimeDifferences(
  kase: CookieCase,
  runs: readonly Run[],
  sessLabel = 'sess',
): string[] {
  const [base, ...others] = runs;
  if (base === undefined) return ['no runs'];
  const problems: string[] = [];
  const name = (run: Run) => `${kase.label}: written by ${run.writer}, read by ${run.reader}`;
  for (const run of runs) {
    if (run.readN !== 1)
      problems.push(`${name(run)}: the reader saw n=${String(run.readN)}, not 1`);
    if (run.backendAfterWrite === null) problems.push(`${name(run)}: no record after the write`);
  }
  for (const run of others) {
    if (!near(run.backendAfterWrite, base.backendAfterWrite)) {
      problems.push(
        `${name(run)}: backend expiry after the write ${show(run.backendAfterWrite)}, ${base.writer} ${show(base.backendAfterWrite)}`,
      );
    }
    if (!near(run.browserAfterWrite, base.browserAfterWrite)) {
      problems.push(
        `${name(run)}: cookie expiry after the write ${show(run.browserAfterWrite)}, ${base.writer} ${show(base.browserAfterWrite)}`,
      );
    }
    const effective = effectiveExpiry(run.backendAfterRead, run.browserAfterRead);
    const baseEffective = effectiveExpiry(base.backendAfterRead, base.browserAfterRead);
    if (!near(effective, baseEffective)) {
      problems.push(
        `${name(run)}: logged out at ${show(effective)} after the read, under ${base.reader} at ${show(baseEffective)}`,
      );
    }
    const untouchedFixedCookie =
      run.reader === sessLabel && kase.maxAge !== undefined && !kase.rolling;
    if (untouchedFixedCookie) {
      if (!near(run.backendAfterRead, run.backendAfterWrite)) {
        problems.push(
          `${name(run)}: an unmodified read moved the record's expiry from ${show(run.backendAfterWrite)} to ${show(run.backendAfterRead)}`,
        );
      }
    } else if (!near(run.backendAfterRead, base.backendAfterRead)) {
      problems.push(
        `${name(run)}: backend expiry after the read ${show(run.backendAfterRead)}, under ${base.reader} ${show(base.backendAfterRead)}`,
      );
    }
  }
  return problems;
}

/**
 * Runs one cookie case four ways at once (incumbent or sess writing, then
 * incumbent or sess reading, `pause` ms later) and returns the runs, the
 * incumbent-only run first.
 */
export async function crossRuns(
  incumbent: { label: string; url: string },
  sess: { label: string; url: string },
  expiryOf: ExpiryReader,
  pause = 2_500,
): Promise<Run[]> {
  return Promise.all([
    writeThenRead(incumbent, incumbent, expiryOf, pause),
    writeThenRead(incumbent, sess, expiryOf, pause),
    writeThenRead(sess, incumbent, expiryOf, pause),
    writeThenRead(sess, sess, expiryOf, pause),
  ]);
}

// --- Process lifetime: the child side and the parent side --------------------------------------

/** A GET without keep-alive (fetch's pooled sockets would keep a child alive for seconds). */
export function plainGet(
  url: string,
  cookie?: string,
): Promise<{ status: number; body: string; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    const request = httpGet(
      url,
      { agent: false, headers: { connection: 'close', ...(cookie ? { cookie } : {}) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            setCookie: response.headers['set-cookie'] ?? [],
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.setTimeout(10_000, () => request.destroy(new Error(`GET ${url} timed out`)));
  });
}

/**
 * For a child process: serve one request that writes a session through
 * `middleware`, then stop serving. Throws unless the response was a 200 with
 * a session cookie.
 */
export async function serveOneRequest(middleware: Middleware): Promise<void> {
  const app = await serve(middleware);
  try {
    const answer = await plainGet(`${app.url}/write`);
    if (answer.status !== 200 || answer.setCookie.length === 0) {
      throw new Error(`/write answered ${answer.status}: ${answer.body}`);
    }
  } finally {
    await app.close();
  }
}

/**
 * For a child process, once it has released everything: print `done`, and,
 * should the process still be alive `after` ms later, what keeps it (an
 * unref'd timer: it holds nothing itself).
 */
export function reportDone(after = 4_000): void {
  process.stdout.write('done\n');
  setTimeout(() => {
    process.stderr.write(`still alive: ${process.getActiveResourcesInfo().join(', ')}\n`);
  }, after).unref();
}

/** How a child process ended. */
export interface ChildExit {
  /** Exit code (`null` when it was killed). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from its `done` line to its exit; `null` without a `done`. */
  afterDone: number | null;
  /** It had to be killed: still alive `exitWithin` ms after `done`, or never said `done`. */
  killed: boolean;
}

/**
 * Run `node script ...args` and wait for it to exit by itself: it is killed
 * when it has not printed `done` within `doneWithin` ms, or has not exited
 * `exitWithin` ms after that.
 */
export function runToExit(
  script: string,
  args: readonly string[],
  { doneWithin = 45_000, exitWithin = 5_000, env = {} as Record<string, string> } = {},
): Promise<ChildExit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let doneAt: number | null = null;
    let killed = false;
    const kill = () => {
      killed = true;
      child.kill('SIGKILL');
    };
    let timer = setTimeout(kill, doneWithin);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (doneAt === null && /^done$/m.test(stdout)) {
        doneAt = Date.now();
        clearTimeout(timer);
        timer = setTimeout(kill, exitWithin);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout,
        stderr,
        afterDone: doneAt === null ? null : Date.now() - doneAt,
        killed,
      });
    });
  });
}

/** The `connect.sid` cookie express-session would send for `id` under `secret`. */
export function signedCookie(id: string, secret: string, name = 'connect.sid'): string {
  const signature = createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, '');
  return `${name}=${encodeURIComponent(`s:${id}.${signature}`)}`;
}

// --- Corrupt records through the middleware ---------------------------------------------------

/** Values a backend can hold under a session id that are not a session, as stored text. */
export const CORRUPT_RECORDS: readonly { label: string; raw: string; json: boolean }[] = [
  { label: 'invalid JSON', raw: '{"cookie":{"expires":', json: false },
  { label: 'a JSON array', raw: '[1,2,3]', json: true },
  { label: 'JSON null', raw: 'null', json: true },
  { label: 'no cookie', raw: '{"n":5}', json: true },
  { label: 'cookie of the wrong type', raw: '{"cookie":"x","n":5}', json: true },
  {
    label: 'cookie.expires garbage',
    raw: '{"cookie":{"originalMaxAge":3600000,"expires":"garbage"},"n":5}',
    json: true,
  },
  {
    label: 'cookie.expires a number',
    raw: '{"cookie":{"originalMaxAge":3600000,"expires":12345},"n":5}',
    json: true,
  },
  {
    label: 'cookie.originalMaxAge a string',
    raw: `{"cookie":{"originalMaxAge":"abc","expires":"${new Date(Date.now() + 86_400_000).toISOString()}"},"n":5}`,
    json: true,
  },
  {
    label: 'cookie.sameSite bogus',
    raw: `{"cookie":{"originalMaxAge":3600000,"expires":"${new Date(Date.now() + 86_400_000).toISOString()}","sameSite":"bogus"},"n":5}`,
    json: true,
  },
];

/**
 * Through an app from `serve`: a request whose cookie names a corrupt record
 * gets a fresh session (200, no data), and writing starts a new session
 * under another id. Returns the problems found, as sentences.
 */
export async function corruptRecordProblems(
  url: string,
  id: string,
  secret: string,
): Promise<string[]> {
  const cookie = signedCookie(id, secret);
  const problems: string[] = [];
  const read = await plainGet(`${url}/read`, cookie);
  if (read.status !== 200 || read.body !== '{"n":null}') {
    problems.push(`/read answered ${read.status} ${read.body}`);
  }
  const write = await plainGet(`${url}/write`, cookie);
  if (write.status !== 200 || write.body !== '{"n":1}') {
    problems.push(`/write answered ${write.status} ${write.body}`);
  }
  const sent = write.setCookie[0]?.split(';')[0];
  if (sent === undefined || idOf(sent) === id) {
    problems.push(`/write did not start a session under a new id (${sent ?? 'no cookie'})`);
  }
  return problems;
}
