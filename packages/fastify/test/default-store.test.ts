import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `request.sessionStore` on the default store, used with callbacks as
// @fastify/session's users do: each call must answer (a callback that is never
// called leaves the request, or an onRequest hook, waiting forever). The app
// runs in a child process against the built package.

const fixture = fileURLToPath(new URL('./fixtures/default-store-app.mjs', import.meta.url));
let child: ChildProcess;
let base = '';
let stderr = '';

beforeAll(async () => {
  child = spawn(process.execPath, [fixture], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  base = await new Promise<string>((resolve, reject) => {
    child.stdout?.once('data', (chunk) => resolve(String(chunk).trim()));
    child.once('exit', (code) => reject(new Error(`app exited early (${code}): ${stderr}`)));
  });
});

afterAll(() => {
  child.kill();
});

/** A GET that must answer within 3 s. */
function get(path: string): Promise<Response> {
  return fetch(`${base}${path}`, { signal: AbortSignal.timeout(3000) });
}

function alive() {
  expect(child.exitCode).toBeNull();
  expect(stderr).not.toMatch(/UNCAUGHT|UNHANDLED/);
}

describe('request.sessionStore on the default store (child process)', () => {
  it('set, get and destroy with callbacks answer, in a route', async () => {
    const response = await get('/callback/one');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ errors: [null, null, null], user: 'ada' });
    alive();
  });

  it('an onRequest hook that waits on set(id, session, done) lets the request through', async () => {
    const response = await get('/hooked');
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('hooked');
    alive();
  });

  it('the promise forms still work', async () => {
    const response = await get('/promise/two');
    expect(await response.json()).toEqual({ user: 'grace', after: null });
    alive();
  });

  it('still serves afterwards', async () => {
    expect(await (await get('/alive')).text()).toBe('alive');
    alive();
  });
});
