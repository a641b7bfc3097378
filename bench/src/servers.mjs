// Starting one contender's server in a child process of its own (shared by
// run.mjs and the bench tests): server.mjs for Express, server-fastify.mjs
// for Fastify. Resolves its URL once it printed `listening <port>`, and a
// `stop()` that lets it close its store.
import { spawn } from 'node:child_process';

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
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null) return done();
              child.once('exit', done);
              child.kill('SIGTERM');
              setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
            }),
        });
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`server ${framework} ${library}/${store} exited with ${code}`)),
    );
  });
}
