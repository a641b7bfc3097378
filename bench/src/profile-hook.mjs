// Preloaded by profile.mjs (`node --import ./profile-hook.mjs server.mjs ...`):
// the CPU profile covers only the load, not start-up and seeding. SIGUSR2
// starts the V8 profiler; the second SIGUSR2 stops it and writes the profile
// to $SESS_PROFILE_FILE, then prints `profile written`.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const file = process.env.SESS_PROFILE_FILE;
if (!file) throw new Error('SESS_PROFILE_FILE is not set');
const session = new Session();
session.connect();
const post = (method, params = {}) =>
  new Promise((resolve, reject) =>
    session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
  );
let running = false;
process.on('SIGUSR2', async () => {
  if (!running) {
    running = true;
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 1000 });
    await post('Profiler.start');
    console.log('profile started');
    return;
  }
  const { profile } = await post('Profiler.stop');
  writeFileSync(file, JSON.stringify(profile));
  console.log('profile written');
});
