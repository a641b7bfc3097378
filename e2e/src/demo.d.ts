// Types for the demo app (examples/demo/app.js, plain JavaScript).
declare module '@sess/example-demo/app.js' {
  import type { SessionStore } from '@sess/core';
  import type { Express } from 'express';
  export function createApp(options: {
    store: SessionStore;
    secret: string | string[];
    maxAge?: number;
  }): Express;
}
