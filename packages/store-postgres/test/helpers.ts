import net from 'node:net';
import { resolveService } from '@sess/store-conformance/services';

/** The PostgreSQL under test: SESS_POSTGRES_URL, a Testcontainers container, or a named skip. */
export const service = await resolveService('postgres');
export const url = service.available ? service.url : '';
export const skip = service.available ? false : service.reason;

/** A table name of its own for each test, so runs never see each other. */
let n = 0;
export const uniqueTable = (label: string) =>
  `t_${label}_${process.pid}_${Date.now().toString(36)}_${n++}`.slice(0, 60);

export const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();
export const record = (data: Record<string, unknown> = {}, ms: number | null = 3_600_000) => ({
  cookie: {
    originalMaxAge: ms,
    expires: ms === null ? null : new Date(Date.now() + ms).toISOString(),
  },
  ...data,
});

/**
 * A TCP relay in front of the real server, to inject network faults:
 * `freeze()` stops forwarding both ways while keeping every socket open
 * (a server that stops answering), `blackhole` accepts and never replies.
 */
export async function relay(target: string, options: { blackhole?: boolean } = {}) {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  let frozen = false;
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined).on('close', () => sockets.delete(client));
    if (options.blackhole) return;
    const upstream = net.connect(Number(port), hostname);
    sockets.add(upstream);
    upstream.on('error', () => undefined).on('close', () => sockets.delete(upstream));
    client.on('data', (chunk) => frozen || upstream.write(chunk));
    upstream.on('data', (chunk) => frozen || client.write(chunk));
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: local } = server.address() as net.AddressInfo;
  const url = new URL(target);
  url.port = String(local);
  return {
    url: url.toString(),
    freeze: () => {
      frozen = true;
    },
    /** Drop every connection and stop listening. */
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
