// @types/express-session loaded before @sess/express: req.session is still sess's.
// biome-ignore-all assist/source/organizeImports: the order of the imports is what this fixture checks.
import { LegacyStore } from 'legacy-store';
import express from 'express';
import session from '@sess/express';

declare module '@sess/core' {
  interface SessionData {
    user: string;
  }
}

const app = express();
app.use(session({ secret: 'x'.repeat(32), store: new LegacyStore() }));
app.get('/', async (req, res) => {
  const user: string | undefined = req.session.user;
  // @ts-expect-error user is a string by augmentation
  req.session.user = 42;
  await req.session.save();
  await req.session.regenerate({ keep: ['user'] });
  res.send(user);
});

export { app };
