// memorystore 1.x (a MemoryStore with an LRU cache and a prune timer), through core's bridge.
import { fromCallbackStore } from '@sess/core';
import session from 'express-session';
import memorystore from 'memorystore';

const MemoryStore = memorystore(session);

export const isolatedInstances = true;
export function createStore() {
  // checkPeriod starts its prune timer; stopInterval() (the bridge's close) stops it.
  return fromCallbackStore(new MemoryStore({ checkPeriod: 60_000 }));
}
