import { describe, expect, it } from 'vitest';
import {
  CorruptRecordError,
  isSessError,
  SessConfigError,
  SessError,
  SessionConflictError,
  StoreClosedError,
  StoreError,
  StoreUnavailableError,
} from '../src/index.js';

describe('error classes', () => {
  const cause = new Error('driver said no');
  const cases: [SessError, string, string, (abstract new (...args: never[]) => Error)[]][] = [
    [new SessConfigError('bad option'), 'SessConfigError', 'SESS_CONFIG', [SessError]],
    [
      new StoreError('redis', 'set', 'write failed', { cause }),
      'StoreError',
      'SESS_STORE',
      [SessError],
    ],
    [
      new StoreUnavailableError('redis', 'get', 'no answer within 10 ms', { cause }),
      'StoreUnavailableError',
      'SESS_STORE_UNAVAILABLE',
      [StoreError, SessError],
    ],
    [
      new StoreClosedError('memory', 'length'),
      'StoreClosedError',
      'SESS_STORE_CLOSED',
      [StoreError, SessError],
    ],
    [
      new CorruptRecordError('sqlite', { cause }),
      'CorruptRecordError',
      'SESS_CORRUPT_RECORD',
      [StoreError, SessError],
    ],
    [new SessionConflictError(['cart']), 'SessionConflictError', 'SESS_CONFLICT', [SessError]],
  ];

  it.each(cases)('%s has its name, code and class chain', (error, name, code, parents) => {
    expect(error.name).toBe(name);
    expect(error.code).toBe(code);
    expect(error).toBeInstanceOf(Error);
    for (const parent of parents) expect(error).toBeInstanceOf(parent);
    expect(isSessError(error)).toBe(true);
    expect(error.stack).toContain(name);
  });

  it('store errors say which store and operation, and keep the cause', () => {
    const error = new StoreUnavailableError('redis', 'get', 'no answer within 10 ms', { cause });
    expect(error.store).toBe('redis');
    expect(error.operation).toBe('get');
    expect(error.message).toBe('redis store: get failed: no answer within 10 ms');
    expect(error.cause).toBe(cause);
    expect(new CorruptRecordError('sqlite').operation).toBe('get');
    expect(new StoreClosedError('memory', 'set').message).toBe(
      'memory store: set failed: the store is closed',
    );
  });

  it('a StoreError can carry its own code', () => {
    expect(new StoreError('pg', 'compareAndSet', 'busy', { code: 'SESS_CONTENTION' }).code).toBe(
      'SESS_CONTENTION',
    );
  });

  it('SessionConflictError lists the keys', () => {
    const error = new SessionConflictError(['cart', 'user']);
    expect(error.keys).toEqual(['cart', 'user']);
    expect(error.message).toBe('session keys changed by a parallel request: cart, user');
  });

  it('isSessError is false for everything else', () => {
    expect(isSessError(new Error('x'))).toBe(false);
    expect(isSessError({ code: 'SESS_STORE', message: 'x' })).toBe(false);
    expect(isSessError(null)).toBe(false);
  });
});
