// Types for `require('@sess/fastify')`, which returns the plugin itself (as
// `require('@fastify/session')` does), with every export on it.
import type { FastifyInstance } from 'fastify';
import * as mod from '../dist/index.cjs';

declare function fastifySession(
  instance: FastifyInstance,
  options: mod.FastifySessionOptions,
  done: (err?: Error) => void,
): void;
declare namespace fastifySession {
  export import FastifySession = mod.FastifySession;
  export import MemoryStore = mod.MemoryStore;
  export import SessError = mod.SessError;
  export import SessConfigError = mod.SessConfigError;
  export import StoreError = mod.StoreError;
  export import StoreUnavailableError = mod.StoreUnavailableError;
  export import SessionConflictError = mod.SessionConflictError;
  export import fastifySession = mod.fastifySession;
  export type FastifySessionOptions = mod.FastifySessionOptions;
  export type DecryptTarget = mod.DecryptTarget;
  export type CookieOptions = mod.CookieOptions;
  export type SessionData = mod.SessionData;
  export type SessionStore = mod.SessionStore;
  export type CallbackStore = mod.CallbackStore;
}
export = fastifySession;
