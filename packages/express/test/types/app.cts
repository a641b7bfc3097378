// A TypeScript app as a migrating CommonJS project writes it (compiled by types.test.ts).
import express = require('express');
import session = require('@sess/express');

declare module '@sess/core' {
  interface SessionData {
    user: string;
  }
}

class MapStore extends session.Store {
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

const options: session.SessionOptions = { secret: 'x'.repeat(32), store: new MapStore() };
const app = express();
app.use(session(options));
app.get('/', async (req, res) => {
  const user: string | undefined = req.session.user;
  // @ts-expect-error user is a string by augmentation
  req.session.user = 42;
  await req.session.save();
  await req.session.regenerate({ keep: ['user'] });
  res.send(user ?? req.sessionID);
});
export = app;
