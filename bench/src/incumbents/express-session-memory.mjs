// express-session's own MemoryStore, through core's bridge. Every instance is its own memory.
import { fromCallbackStore } from '@sess/core';
import session from 'express-session';

export const isolatedInstances = true;
export function createStore() {
  return fromCallbackStore(new session.MemoryStore());
}
