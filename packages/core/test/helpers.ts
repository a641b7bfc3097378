import {
  MemoryStore,
  type RequestSession,
  type SessionManager,
  type SessionRecord,
  type SessionStore,
} from '../src/index.js';

export const SECRET = 'a core test secret, comfortably longer than 32 chars';

type Counted = 'get' | 'set' | 'touch' | 'destroy' | 'compareAndSet';

/**
 * A real MemoryStore that counts the calls it gets. `compareAndSet: false`
 * hides that capability, to exercise the plain `set` path.
 */
export class CountingStore implements SessionStore {
  readonly inner = new MemoryStore({ sweepInterval: 0 });
  readonly calls: Record<Counted, number> = {
    get: 0,
    set: 0,
    touch: 0,
    destroy: 0,
    compareAndSet: 0,
  };
  compareAndSet?: (
    id: string,
    expected: SessionRecord | null,
    next: SessionRecord,
  ) => Promise<boolean>;

  constructor(options: { compareAndSet?: boolean } = {}) {
    if (options.compareAndSet !== false) {
      this.compareAndSet = async (id, expected, next) => {
        this.calls.compareAndSet++;
        return this.inner.compareAndSet(id, expected, next);
      };
    }
  }

  /** Writes of any kind: set, compareAndSet and touch. */
  get writes(): number {
    return this.calls.set + this.calls.compareAndSet + this.calls.touch;
  }

  reset(): void {
    for (const key of Object.keys(this.calls) as Counted[]) this.calls[key] = 0;
  }

  async get(id: string) {
    this.calls.get++;
    return this.inner.get(id);
  }
  async set(id: string, record: SessionRecord) {
    this.calls.set++;
    return this.inner.set(id, record);
  }
  async touch(id: string, record: SessionRecord) {
    this.calls.touch++;
    return this.inner.touch(id, record);
  }
  async destroy(id: string) {
    this.calls.destroy++;
    return this.inner.destroy(id);
  }
  async close() {
    return this.inner.close();
  }
}

/** The `name=value` part of a Set-Cookie header, to send back as a Cookie header. */
export function cookiePair(setCookie: string | null): string {
  if (!setCookie) throw new Error('expected a Set-Cookie header');
  return setCookie.split(';')[0] as string;
}

/** One request against a manager: load, let `work` change the session, commit. */
export async function roundTrip<Req>(
  manager: SessionManager<Req>,
  cookieHeader: string | undefined,
  work: (state: RequestSession<Req>) => void | Promise<void> = () => {},
  extra: { secure?: boolean; request?: Req } = {},
): Promise<{ state: RequestSession<Req>; setCookie: string | null }> {
  const state = await manager.load({
    request: extra.request as Req,
    cookieHeader,
    secure: extra.secure ?? false,
  });
  if (!state) throw new Error('the request lies outside the cookie path');
  await work(state);
  await state.commit(state.session);
  return { state, setCookie: state.setCookieHeader() };
}

/** `req.session` with free-form data, for tests. */
export function data(state: RequestSession<unknown>): Record<string, unknown> {
  return state.session as unknown as Record<string, unknown>;
}
