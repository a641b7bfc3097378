// The same in a CommonJS project.
import express = require('express');
import session = require('@sess/express');
import legacy = require('legacy-store');

declare module '@sess/core' {
  interface SessionData {
    user: string;
  }
}

const app = express();
app.use(session({ secret: 'x'.repeat(32), store: new legacy.LegacyStore() }));
app.get('/', async (req, res) => {
  const user: string | undefined = req.session.user;
  // @ts-expect-error user is a string by augmentation
  req.session.user = 42;
  await req.session.save();
  res.send(user);
});
export = app;
