// A private, throwaway redis-server (or Sentinel) for tests that need to kill or configure one.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

export function findRedisServer(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** A private, throwaway redis-server on loopback: no persistence, killed by the test. */
/** Servers still running; killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const server of running) server.kill('SIGKILL');
});

export async function start(
  port: number,
  args: string[] = ['--save', '', '--appendonly', 'no'],
  readyText = 'Ready to accept connections',
): Promise<ChildProcess> {
  const binary = findRedisServer();
  if (!binary) throw new Error('redis-server is not on PATH');
  const server = spawn(binary, [...args, '--port', String(port), '--bind', '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  running.add(server);
  server.once('exit', () => running.delete(server));
  let output = '';
  server.stdout?.setEncoding('utf8');
  const ready = new Promise<void>((resolve, reject) => {
    server.stdout?.on('data', (chunk: string) => {
      output += chunk;
      if (output.includes(readyText)) resolve();
    });
    server.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output}`)));
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    ready,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('redis-server did not start in 10 s')), 10_000);
    }),
  ]).finally(() => clearTimeout(timer));
  return server;
}

export async function stop(server: ChildProcess | undefined): Promise<void> {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = once(server, 'exit');
  server.kill('SIGKILL');
  await exited;
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
