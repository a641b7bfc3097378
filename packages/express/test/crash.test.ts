// Issue 13's crash list, each scenario run in a child process
// (test/fixtures/crash-app.mjs) against @sess/express and against
// express-session itself, on Express 4 and 5: the process must survive every
// one, end by itself once its servers close, and the client must get what
// express-session sends. Runs the built package (dist), as the other suites do.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** Two Node processes loading Express: seconds on a loaded machine. */
const CHILD_TIMEOUT = 90_000;

const SCRIPT = fileURLToPath(new URL('./fixtures/crash-app.mjs', import.meta.url));

interface Outcome {
  scenario?: string;
  alive?: boolean;
  status?: number;
  body?: string;
  location?: string | null;
  cookies?: number;
  sessionCookie?: string | null;
  errors?: string[];
  clientError?: string;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: Outcome[];
  stderr: string;
  /** Killed because it did not end by itself in time. */
  hung: boolean;
}

const runs = new Map<string, Promise<Run>>();

/** One child per library and major, shared by the tests that read it. */
function run(library: 'sess' | 'express-session', major: '4' | '5'): Promise<Run> {
  const key = `${library} ${major}`;
  let started = runs.get(key);
  if (!started) {
    started = spawnRun(library, major);
    runs.set(key, started);
  }
  return started;
}

function spawnRun(library: 'sess' | 'express-session', major: '4' | '5'): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, library, major], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let hung = false;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, 45_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Outcome);
      resolve({ code, signal, lines, stderr, hung });
    });
  });
}

/** What the client got, in the terms express-session is compared on. */
function seen(outcome: Outcome | undefined) {
  if (!outcome) return undefined;
  return {
    status: outcome.status,
    body: outcome.body,
    location: outcome.location,
    cookies: outcome.cookies,
    sessionCookie: outcome.sessionCookie !== null,
    errors: outcome.errors,
    clientError: outcome.clientError,
  };
}

describe.each(['5', '4'] as const)('Express %s, in a child process', (major) => {
  it(
    'survives every scenario, ends by itself, and the client gets what express-session sends',
    async () => {
      const [sess, reference] = await Promise.all([
        run('sess', major),
        run('express-session', major),
      ]);
      expect(sess.hung, 'the process did not end by itself').toBe(false);
      expect(sess.signal).toBeNull();
      expect(sess.code, sess.stderr).toBe(0);
      expect(sess.lines.at(-1)).toEqual({ alive: true });
      expect(reference.code, reference.stderr).toBe(0);

      const byName = new Map(reference.lines.map((line) => [line.scenario, line]));
      const compared = sess.lines.filter((line) => line.scenario && byName.has(line.scenario));
      expect(compared.length).toBe(major === '5' ? 8 : 7);
      for (const outcome of compared) {
        expect(seen(outcome), outcome.scenario).toEqual(seen(byName.get(outcome.scenario)));
        expect(outcome.clientError, outcome.scenario).toBeUndefined();
      }
      const double = sess.lines.find((l) => l.scenario === 'redirect then send (missing return)');
      expect(double?.body).not.toContain('TOP SECRET');
      expect(double?.errors).toEqual(['ERR_HTTP_HEADERS_SENT']);
      expect(sess.lines.find((l) => l.scenario === 'writeHead with Set-Cookie')?.cookies).toBe(2);
    },
    CHILD_TIMEOUT,
  );

  it(
    'sess-only cases: typed errors or clamped lifetimes, never a crash or a hung request',
    async () => {
      const sess = await run('sess', major);
      expect(sess.code, sess.stderr).toBe(0);
      const outcome = (name: string) => sess.lines.find((l) => l.scenario === name);
      expect(outcome("cookie() returning sameSite 'bogus'")).toMatchObject({
        status: 500,
        errors: ['SESS_CONFIG'],
        cookies: 0,
      });
      expect(outcome('maxAge Number.MAX_SAFE_INTEGER')?.sessionCookie).toContain(
        'Expires=Fri, 31 Dec 9999 23:59:59 GMT',
      );
      expect(outcome('stored originalMaxAge 1e300')).toMatchObject({ status: 200, body: 'ok' });
      expect(outcome('stored record nested 20000 levels')).toMatchObject({
        status: 200,
        body: 'ok',
        cookies: 1, // a new session
      });
      if (major === '4') {
        expect(outcome('res.status(undefined).send()')).toMatchObject({
          status: 500,
          errors: ['ERR_HTTP_INVALID_STATUS_CODE'],
        });
      }
      for (const line of sess.lines) expect(line.clientError, line.scenario).toBeUndefined();
    },
    CHILD_TIMEOUT,
  );
});
