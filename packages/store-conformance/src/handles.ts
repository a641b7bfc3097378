import { createHook } from 'node:async_hooks';

export interface HandleTracker {
  /** The followed handles that would still keep the process alive. */
  alive: () => string[];
  /** Stop following new handles (those followed so far stay followed until `stop`). */
  pause: () => void;
  /** Stop following altogether. */
  stop: () => void;
}

/**
 * Follows the timers and sockets created from now on (async_hooks), so a
 * behaviour can tell which of them would still keep the process alive.
 */
export function trackHandles(): HandleTracker {
  type Handle = { hasRef?: () => boolean; _destroyed?: boolean };
  const watched = new Map<number, { type: string; resource: Handle }>();
  let recording = true;
  const hook = createHook({
    init(asyncId, type, _trigger, resource) {
      if (!recording) return;
      if (
        type === 'Timeout' ||
        type.startsWith('TCP') ||
        type === 'PIPEWRAP' ||
        type === 'UDPWRAP'
      ) {
        watched.set(asyncId, { type, resource: resource as Handle });
      }
    },
    destroy(asyncId) {
      watched.delete(asyncId);
    },
  });
  hook.enable();
  return {
    alive: () =>
      [...watched.values()]
        // A fired or cleared timer is `_destroyed` before its destroy hook runs.
        .filter(
          ({ type, resource }) =>
            type !== 'TCPCONNECTWRAP' && !resource._destroyed && resource.hasRef?.() !== false,
        )
        .map(({ type }) => type),
    pause: () => {
      recording = false;
    },
    stop: () => {
      hook.disable();
      watched.clear();
    },
  };
}
