import assert from 'node:assert/strict';
import type { SessionStore } from '@sess/core';
import type { Behaviour, Requirement } from '../types.js';
import { assertRejectsFast, record, within } from './helpers.js';

type Operation = Exclude<keyof SessionStore, 'close'>;

/** Each operation of the contract, called as core calls it. */
const OPERATIONS: [Operation, (s: SessionStore) => Promise<unknown> | undefined][] = [
  ['get', (s) => s.get('x')],
  ['set', (s) => s.set('x', record())],
  ['destroy', (s) => s.destroy('x')],
  ['touch', (s) => s.touch?.('x', record())],
  ['ids', (s) => s.ids?.()],
  ['all', (s) => s.all?.()],
  ['length', (s) => s.length?.()],
  ['clear', (s) => s.clear?.()],
  ['compareAndSet', (s) => s.compareAndSet?.('x', null, record())],
];

/** The operation on the unreachable store, or a failure saying it has none. */
function call(
  op: Operation,
  run: (s: SessionStore) => Promise<unknown> | undefined,
): (s: SessionStore) => Promise<unknown> {
  return (s) => {
    const running = run(s);
    if (!running)
      throw new Error(
        `the \`unreachable\` store has no ${op}(), though the store under test has: build it like \`create\` does`,
      );
    return running;
  };
}

export const failure: Behaviour[] = [
  ...OPERATIONS.map(
    ([op, run]): Behaviour => ({
      group: 'failure',
      name: `${op} rejects within the time bound when the backend is down`,
      requires: [
        'unreachable',
        ...(['get', 'set', 'destroy'].includes(op) ? [] : [op as Requirement]),
      ],
      run: (context) => assertRejectsFast(context, op, call(op, run)),
    }),
  ),
  {
    group: 'failure',
    name: 'every operation rejects with a typed StoreError (code SESS_*)',
    requires: ['unreachable'],
    run: async (context) => {
      const store = await context.unreachable();
      const bound = (context.options.failFastWithin ?? 5_000) + 500;
      try {
        const problems: string[] = [];
        await Promise.all(
          OPERATIONS.map(async ([op, run]) => {
            let running: Promise<unknown> | undefined;
            try {
              running = run(store);
            } catch (error) {
              running = Promise.reject(error);
            }
            if (!running) return; // the store has no such operation
            const err = await within(
              bound,
              op,
              running.then(
                () => 'resolved',
                (e: unknown) => e,
              ),
            ).catch((e: unknown) => e);
            if (err === 'resolved') problems.push(`${op} resolved`);
            else if (!(err instanceof Error)) problems.push(`${op} rejected with a non-Error`);
            else {
              const code = (err as { code?: unknown }).code;
              if (!(typeof code === 'string' && code.startsWith('SESS_')))
                problems.push(`${op} rejected with code ${String(code)} (${err.message})`);
            }
          }),
        );
        assert.deepEqual(problems, [], problems.join('; '));
      } finally {
        await store.close?.().catch(() => undefined);
      }
    },
  },
];
