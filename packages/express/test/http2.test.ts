// The middleware on Node's HTTP/2 compatibility API (cleartext h2c here; TLS
// changes nothing for it), without Express, which does not run there.
import {
  connect,
  createServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { MemoryStore } from '@sess/core';
import { afterAll, describe, expect, it } from 'vitest';
import { session } from '../src/index.js';
import { SECRET } from './helpers.js';

const middleware = session({ secret: SECRET, store: new MemoryStore({ sweepInterval: 0 }) });

const server = createServer((req: Http2ServerRequest, res: Http2ServerResponse) => {
  middleware(req as never, res as never, (err?: unknown) => {
    if (err) {
      res.statusCode = 500;
      res.end(String(err));
      return;
    }
    const s = (req as unknown as { session: { views?: number } }).session;
    s.views = (s.views ?? 0) + 1;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ views: s.views }));
  });
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function get(base: string, cookie?: string) {
  return new Promise<{ body: string; setCookie: string[] }>((resolve, reject) => {
    const client = connect(base);
    client.on('error', reject);
    const stream = client.request({ ':path': '/', ...(cookie ? { cookie } : {}) });
    let body = '';
    let setCookie: string[] = [];
    stream.on('response', (headers) => {
      const raw = headers['set-cookie'];
      setCookie = Array.isArray(raw) ? raw : raw ? [raw] : [];
    });
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('end', () => {
      client.close();
      resolve({ body, setCookie });
    });
    stream.on('error', reject);
  });
}

describe('HTTP/2 compatibility server', () => {
  it('creates, sends and continues a session', async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const first = await get(base);
    expect(JSON.parse(first.body)).toEqual({ views: 1 });
    const cookie = first.setCookie[0]?.split(';')[0];
    expect(cookie).toMatch(/^connect\.sid=s%3A/);
    const second = await get(base, cookie);
    expect(JSON.parse(second.body)).toEqual({ views: 2 });
  });
});
