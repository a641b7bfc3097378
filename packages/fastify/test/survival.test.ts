import { type ChildProcess, spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { io as connectSocket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The app runs in a child process (against the built package): a store that
// fails, hangs or fails after the client is gone must never crash it.

const fixture = fileURLToPath(new URL('./fixtures/survival-app.mjs', import.meta.url));
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

async function mode(name: string) {
  await fetch(`${base}/mode/${name}`, { method: 'POST' });
}

function alive() {
  expect(child.exitCode).toBeNull();
  expect(stderr).not.toMatch(/UNCAUGHT|UNHANDLED/);
}

describe('process survival (child process)', () => {
  it('a write that fails at the end of the request: a 500, the process lives', async () => {
    await mode('set-fails');
    const response = await fetch(`${base}/write`);
    expect(response.status).toBe(500);
    alive();
  });

  it('a read that fails or never answers (storeTimeout): a 500, the process lives', async () => {
    await mode('ok');
    const first = await fetch(`${base}/write`);
    const cookie = first.headers.getSetCookie()[0]?.split(';')[0] as string;
    await mode('get-fails');
    expect((await fetch(`${base}/write`, { headers: { cookie } })).status).toBe(500);
    await mode('get-hangs');
    expect((await fetch(`${base}/write`, { headers: { cookie } })).status).toBe(500);
    alive();
  });

  it('destroy that fails, with a promise and with a callback: answered, the process lives', async () => {
    await mode('destroy-fails');
    expect((await fetch(`${base}/destroy`)).status).toBe(500);
    expect((await fetch(`${base}/destroy-callback`)).status).toBe(500);
    alive();
  });

  it('a client that leaves while the session is being saved, and the save then fails', async () => {
    await mode('set-slow-fails');
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${base}/write`);
      req.on('error', () => resolve());
      req.end();
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 30);
    });
    await new Promise((resolve) => setTimeout(resolve, 300)); // the failed save lands meanwhile
    alive();
  });

  it('a streamed reply whose save fails', async () => {
    await mode('set-fails');
    const response = await fetch(`${base}/stream`);
    expect(response.status).toBe(500);
    alive();
  });

  it('socket.io: a session from decryptSession saved, reloaded, regenerated, destroyed without await on a failing store', async () => {
    await mode('ok');
    const first = await fetch(`${base}/write`);
    const cookie = first.headers.getSetCookie()[0]?.split(';')[0] as string;
    const client = connectSocket(base, {
      transports: ['websocket'],
      extraHeaders: { cookie },
      reconnection: false,
      forceNew: true,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('connect_error', reject);
      });
      await mode('all-fail');
      expect(await client.timeout(5000).emitWithAck('detached')).toBe('done');
      await new Promise((resolve) => setTimeout(resolve, 200));
      alive();
    } finally {
      client.disconnect();
    }
  });

  it('still serves afterwards', async () => {
    await mode('ok');
    expect(await (await fetch(`${base}/alive`)).text()).toBe('alive');
    alive();
  });
});
