import assert from 'node:assert/strict';
import type { Behaviour } from '../types.js';
import { assertRejectsFast, record, within } from './helpers.js';

export const failure: Behaviour[] = [
  {
    group: 'failure',
    name: 'get rejects within the time bound when the backend is down',
    requires: ['unreachable'],
    run: (context) => assertRejectsFast(context, 'get', (s) => s.get('x')),
  },
  {
    group: 'failure',
    name: 'set rejects within the time bound when the backend is down',
    requires: ['unreachable'],
    run: (context) => assertRejectsFast(context, 'set', (s) => s.set('x', record())),
  },
  {
    group: 'failure',
    name: 'destroy rejects within the time bound when the backend is down',
    requires: ['unreachable'],
    run: (context) => assertRejectsFast(context, 'destroy', (s) => s.destroy('x')),
  },
  {
    group: 'failure',
    name: 'the rejection is a typed StoreError (code SESS_*), with the cause kept',
    requires: ['unreachable'],
    run: async (context) => {
      const store = await context.unreachable();
      try {
        const err = await within(
          (context.options.failFastWithin ?? 5_000) + 500,
          'get',
          store.get('x').then(
            () => null,
            (e: unknown) => e,
          ),
        );
        assert.ok(err instanceof Error, 'rejected with a non-Error');
        const code = (err as { code?: unknown }).code;
        assert.ok(typeof code === 'string' && code.startsWith('SESS_'), `code is ${String(code)}`);
      } finally {
        await store.close?.().catch(() => undefined);
      }
    },
  },
];
