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
    name: 'the expiry a touch sets is the one get applies and reports, earlier or later',
    requires: ['touch'],
    run: async ({ store }) => {
      // Earlier: a touch may shorten a session (a smaller maxAge); get applies the touched expiry.
      await store.set('t-earlier', record({ v: 1 }, 3_600_000));
      await store.touch?.('t-earlier', record({ v: 1 }, 1_000));
      // Later: get reports the touched expiry, or the one set wrote (a store whose touch moves
      // only its own expiry keeps the cookie as written); never a third instant.
      const written = record({ v: 2 }, 600_000);
      await store.set('t-later', written);
      const touched = record({ v: 2 }, 7_200_000);
      await store.touch?.('t-later', touched);
      const got = await store.get('t-later');
      assert.equal(got?.v, 2, 'the touched record is gone');
      const reported = got?.cookie.expires;
      if (reported !== undefined && reported !== null) {
        const at = new Date(String(json(reported))).getTime();
        const allowed = [written, touched].map((r) => new Date(String(r.cookie.expires)).getTime());
        assert.ok(
          allowed.includes(at),
          `get reports cookie.expires ${String(json(reported))}: neither the touched ${String(touched.cookie.expires)} nor the written ${String(written.cookie.expires)}`,
        );
      }
      await sleep(1_300);
      assert.equal(
        await store.get('t-earlier'),
        null,
        'a touch to an earlier expiry was not applied',
      );
    },
  },
];
