// Starting one contender's server in a child process of its own (shared by
// run.mjs and the bench tests): server.mjs for Express, server-fastify.mjs
// for Fastify. Resolves its URL once it printed `listening <port>`, and a
// `stop()` that lets it close its store.
import { spawn } from 'node:child_process';

/**
 * How long `stop()` waits after SIGTERM before SIGKILL. A server lets its
 * in-flight store calls finish (up to 10 s) and then deletes its keys: a Redis
 * contender after a full run holds 150k+ sessions, which a kill at 5 s left
 * on the shared Redis. A server that closes in time is not waited for longer.
 */
export const STOP_GRACE_MS = 60_000;

/** The server script of each framework. */
export const SERVER_SCRIPTS = {
  express: new URL('./server.mjs', import.meta.url).pathname,
  fastify: new URL('./server-fastify.mjs', import.meta.url).pathname,
};

export function startServer(
  { framework = 'express', library, store },
  execArgv = [],
  env = process.env,
) {
  const script = SERVER_SCRIPTS[framework];
  if (!script) return Promise.reject(new Error(`unknown framework ${framework}`));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...execArgv, script, library, store], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env,
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /listening (\d+)/.exec(out);
      if (match) {
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        child.removeAllListeners('exit');
        resolve({
          url: `http://127.0.0.1:${match[1]}`,
          pid: child.pid,
          // Resolves how the process ended: `{ code, signal }` (signal 'SIGKILL'
          // when it did not close within STOP_GRACE_MS, and is then reported).
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null || child.signalCode !== null) {
                return done({ code: child.exitCode, signal: child.signalCode });
              }
              child.once('exit', (code, signal) => done({ code, signal }));
              child.kill('SIGTERM');
              setTimeout(() => {
                if (child.exitCode !== null || child.signalCode !== null) return;
                console.error(
                  `bench: server ${framework} ${library}/${store} did not close within ${STOP_GRACE_MS} ms of SIGTERM; killed (its store may have kept its keys)`,
                );
                child.kill('SIGKILL');
              }, STOP_GRACE_MS).unref();
            }),
        });
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`server ${framework} ${library}/${store} exited with ${code}`)),
    );
  });
}
