// Test servers on 127.0.0.1: plain HTTP, HTTPS with a throwaway self-signed
// certificate made at test time, and a TLS-terminating proxy.

import http, { type RequestListener } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { HOSTS, type Host } from './browser.js';

let pems: Promise<{ key: string; cert: string }> | undefined;

/** One certificate per test process, for the test host names and 127.0.0.1. */
function certificate(): Promise<{ key: string; cert: string }> {
  pems ??= generate([{ name: 'commonName', value: 'sess-e2e' }], {
    keyType: 'ec',
    curve: 'P-256',
    notAfterDate: new Date(Date.now() + 24 * 60 * 60 * 1000),
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          ...HOSTS.map((value) => ({ type: 2 as const, value })),
          { type: 7 as const, ip: '127.0.0.1' },
        ],
      },
    ],
  }).then((result) => ({ key: result.private, cert: result.cert }));
  return pems;
}

export interface Server {
  port: number;
  scheme: 'http' | 'https';
  /** An address on one of the test hosts, e.g. `url('/login', 'b.test')`. */
  url(path?: string, host?: Host): string;
  close(): Promise<void>;
}

/** Serve a request listener (an Express app) on 127.0.0.1. */
export async function serve(
  listener: RequestListener,
  { tls = false }: { tls?: boolean } = {},
): Promise<Server> {
  const server = tls
    ? https.createServer(await certificate(), listener)
    : http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const scheme = tls ? 'https' : 'http';
  return {
    port,
    scheme,
    url: (path = '/', host = 'a.test') => `${scheme}://${host}:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * A TLS-terminating reverse proxy in front of a plain-HTTP backend, sending
 * `X-Forwarded-Proto: https` as nginx or a load balancer would.
 */
export function proxyTo(backendPort: number): RequestListener {
  return (req, res) => {
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: backendPort,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, 'x-forwarded-proto': 'https' },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  };
}
