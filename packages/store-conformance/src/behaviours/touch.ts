import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Behaviour } from '../types.js';
import { json, record } from './helpers.js';

export const touch: Behaviour[] = [
  {
    group: 'touch',
    name: 'touch extends the expiry',
    requires: ['touch'],
    run: async ({ store }) => {
      const written = record({ v: 1 }, 1_000);
      await store.set('t-extend', written);
      await store.touch?.('t-extend', {
        ...written,
        cookie: { ...written.cookie, expires: new Date(Date.now() + 60_000).toISOString() },
      });
      await sleep(1_300);
      assert.equal((await store.get('t-extend'))?.v, 1);
    },
  },
  {
    group: 'touch',
    name: 'touch does not rewrite the data',
    requires: ['touch'],
    run: async ({ store }) => {
      await store.set('t-data', record({ v: 'stored' }));
      await store.touch?.('t-data', record({ v: 'from touch', extra: true }));
      const got = await store.get('t-data');
      assert.equal(got?.v, 'stored');
      assert.ok(got && !('extra' in got), 'touch wrote new keys');
    },
  },
  {
    group: 'touch',
    name: 'touch of an absent id does not create a record',
    requires: ['touch'],
    run: async ({ store }) => {
      await store.touch?.('t-absent', record({ v: 1 }));
      assert.equal(await store.get('t-absent'), null);
    },
  },
  {
    group: 'touch',
    name: 'touch never resurrects an expired record',
    requires: ['touch'],
    run: async ({ store }) => {
      await store.set('t-expired', record({ v: 1 }, 500));
      await sleep(800);
      await store.touch?.('t-expired', record({ v: 1 }, 60_000));
      assert.equal(await store.get('t-expired'), null);
    },
  },
  {
    group: 'touch',
    name: 'touch after destroy does not bring the record back',
    requires: ['touch'],
    run: async ({ store }) => {
      await store.set('t-destroyed', record({ v: 1 }));
      await store.destroy('t-destroyed');
      await store.touch?.('t-destroyed', record({ v: 1 }));
      assert.equal(await store.get('t-destroyed'), null);
    },
  },
  {
    group: 'touch',
    name: 'touch with a past expiry ends the session',
    requires: ['touch'],
    run: async ({ store }) => {
      await store.set('t-past', record({ v: 1 }));
      await store.touch?.('t-past', record({ v: 1 }, -1_000));
      assert.equal(await store.get('t-past'), null);
    },
  },
  {
    group: 'touch',
    name: 'the expiry a touch sets is the one get reports',
    requires: ['touch'],
    run: async ({ store }) => {
      await store.set('t-report', record({ v: 1 }, 60_000));
      const later = new Date(Date.now() + 7_200_000).toISOString();
      const touched = record({ v: 1 });
      touched.cookie = { ...touched.cookie, expires: later };
      await store.touch?.('t-report', touched);
      const got = await store.get('t-report');
      const reported = got?.cookie.expires;
      // A store may keep the stored cookie as written; if it reports an expiry, it is not earlier than the touch.
      if (reported) assert.ok(new Date(String(json(reported))).getTime() >= Date.now() + 50_000);
      assert.equal(got?.v, 1);
    },
  },
];
