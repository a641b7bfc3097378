// Types for untyped imports: the demo app (examples/demo/app.js, plain JavaScript)...
declare module '@sess/example-demo/app.js' {
  import type { SessionStore } from '@sess/core';
  import type { Express } from 'express';
  export function createApp(options: {
    store: SessionStore;
    secret: string | string[];
    maxAge?: number;
  }): Express;
}

// express-session, the incumbent, without @types/express-session: its Request
// augmentation would clash with @sess/express's in one compilation.
declare module 'express-session' {
  const session: {
    (options: object): import('express').RequestHandler;
    MemoryStore: new () => object;
  };
  export default session;
}
