// A TypeScript app as a migrating ESM project writes it (compiled by types.test.ts).

import session, { type SessionOptions, Store } from '@sess/express';
import express from 'express';

declare module '@sess/core' {
  interface SessionData {
    user: string;
  }
}

/** A store typed against express-session's Store: get/set/destroy are there to implement and call. */
class MapStore extends Store {
  readonly map = new Map<string, string>();
  get(sid: string, callback: (err: unknown, session?: unknown) => void): void {
    const raw = this.map.get(sid);
    callback(null, raw === undefined ? null : JSON.parse(raw));
  }
  set(sid: string, record: object, callback?: (err?: unknown) => void): void {
    this.map.set(sid, JSON.stringify(record));
    callback?.();
  }
  destroy(sid: string, callback?: (err?: unknown) => void): void {
    this.map.delete(sid);
    callback?.();
  }
}
function readThrough(store: Store, sid: string): void {
  store.get(sid, () => {});
  store.set(sid, {}, () => {});
  store.destroy(sid);
}

const options: SessionOptions = { secret: 'x'.repeat(32), store: new MapStore(), key: 'app.sid' };
const app = express();
app.use(session(options));
app.get('/', async (req, res) => {
  const user: string | undefined = req.session.user;
  // @ts-expect-error user is a string by augmentation
  req.session.user = 42;
  await req.session.save();
  await req.session.regenerate({ keep: ['user'] });
  req.session.destroy({ clearCookie: true }, () => res.send(user ?? req.sessionID));
});

export { app, readThrough };
