import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { trackHandles } from '../handles.js';
import type { Behaviour } from '../types.js';
import { record, within } from './helpers.js';

export const lifecycle: Behaviour[] = [
  {
    group: 'lifecycle',
    name: 'close resolves',
    requires: ['close'],
    run: async ({ store }) => {
      await store.close?.();
    },
  },
  {
    group: 'lifecycle',
    name: 'close twice resolves both times',
    requires: ['close'],
    run: async ({ store }) => {
      await store.close?.();
      await store.close?.();
    },
  },
  {
    group: 'lifecycle',
    name: 'operations after close settle instead of hanging',
    requires: ['close'],
    run: async ({ store, options }) => {
      await store.close?.();
      const bound = options.failFastWithin ?? 5_000;
      await within(
        bound,
        'get after close',
        store.get('after-close').catch(() => null),
      );
      await within(
        bound,
        'set after close',
        store.set('after-close', record()).catch(() => null),
      );
    },
  },
  {
    group: 'lifecycle',
    name: 'close releases every handle the store opened, so the process can exit',
    requires: ['close', 'ownedResources'],
    run: async ({ options, reopen, earlyHandles }) => {
      const namespace = `handles_${process.pid}_${Date.now()}`;
      const tracker = trackHandles();
      try {
        const store = await options.create({ namespace });
        await store.set('h', record());
        await store.get('h');
        await store.destroy('h');
        await store.close?.();
        // Sockets finish closing over the next turns of the event loop. Handles the store
        // opened before the behaviours (a module-level pool made by the first create, at
        // capability detection, whose store was closed long ago) count too.
        const alive = () => [
          ...tracker.alive(),
          ...earlyHandles().map((type) => `${type} (opened during capability detection)`),
        ];
        let left = alive();
        for (let waited = 0; left.length > 0 && waited < 2_000; waited += 100) {
          await sleep(100);
          left = alive();
        }
        assert.deepEqual(
          left,
          [],
          `still keeping the process alive after close: ${left.join(', ')}`,
        );
      } finally {
        tracker.stop();
        // This store was closed by the behaviour; clean its namespace through a fresh one.
        await reopen(namespace);
      }
    },
  },
  {
    group: 'lifecycle',
    name: 'set after close rejects: a write that resolves but stores nothing is silent data loss',
    requires: ['close'],
    run: async ({ store, options }) => {
      await store.close?.();
      const outcome = await within(
        options.failFastWithin ?? 5_000,
        'set after close',
        store.set('after-close', record()).then(
          () => 'resolved',
          () => 'rejected',
        ),
      );
      assert.equal(outcome, 'rejected', 'set after close resolved');
    },
  },
  {
    group: 'lifecycle',
    name: 'close never deletes data another instance on the namespace still serves',
    requires: ['close', 'sharedInstances'],
    run: async ({ store, namespace, reopen }) => {
      const second = await reopen(namespace);
      await store.set('kept', record({ v: 1 }));
      assert.equal((await second.get('kept'))?.v, 1, 'a second instance does not see the record');
      await store.close?.();
      assert.equal((await second.get('kept'))?.v, 1, "close deleted the namespace's records");
    },
  },
];
