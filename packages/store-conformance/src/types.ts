import type { SessionStore, StoreCapability, UserIndexOptions } from '@sess/core';

/** What `create` is given. */
export interface CreateContext {
  /** Unique per behaviour: map it to your prefix, table or collection. */
  namespace: string;
  /**
   * Set by the behaviours of the `users` group (and one capability probe): open the store with this
   * `users` option (its user index). Absent: open it without one. A factory that ignores it makes
   * those behaviours n.a.
   */
  users?: UserIndexOptions;
}

/** What the suite needs to know about a store under test. */
export interface ConformanceOptions<S extends SessionStore = SessionStore> {
  /** Shown in every test name and in the report. */
  name: string;
  /**
   * A new store. `namespace` is unique per behaviour: map it to your prefix,
   * table or collection so behaviours never see each other on a shared backend.
   * `users`, when present, is the `users` option to open the store with (the
   * sessions-by-user behaviours): pass it on to your store's constructor.
   */
  create: (context: CreateContext) => S | Promise<S>;
  /** Run after each behaviour. Default: `clear()` then `close()` when the store has them. */
  cleanup?: (store: S) => void | Promise<void>;
  /** A store whose backend is down (a closed port, short timeouts): enables the failure behaviours. */
  unreachable?: () => SessionStore | Promise<SessionStore>;
  /** Override detected capabilities, e.g. `{ compareAndSet: false }`. */
  capabilities?: Partial<Record<StoreCapability, boolean>>;
  /** The store keeps connections it was given (not its own): skip the "close releases handles" check. */
  sharedResources?: boolean;
  /**
   * Bound for each phase of a behaviour (creating its store, running it, cleaning up), and for
   * capability detection, in ms. Default 15,000.
   */
  timeout?: number;
  /** Bound within which an unreachable backend must reject, in ms. Default 5,000. */
  failFastWithin?: number;
  /**
   * The lifetime, in ms, that stores made by `create` give a record stored without
   * `cookie.expires`. When declared (and at most 5,000 ms, so configure `create` with a short
   * one), the suite checks such a record lives that long and no longer. Undeclared: n.a.
   */
  defaultTtl?: number;
  /**
   * Each store `create` returns is its own backend (an in-memory store): two instances on one
   * namespace share nothing, so the behaviours about several app servers on one namespace are n.a.
   */
  isolatedInstances?: boolean;
  /** Run only the behaviours this keeps (the CLI's `--grep`). Default: all of them. */
  filter?: (behaviour: Behaviour) => boolean;
  /** Vitest only: skip the whole suite, with this reason shown. */
  skip?: string | false;
}

export type Requirement =
  | StoreCapability
  | 'unreachable'
  | 'ownedResources'
  | 'sharedInstances'
  | 'defaultTtl'
  /** Any of ids, all, length. */
  | 'listing'
  /** All four user methods, on a store `create` opened with `users`. */
  | 'users';

export interface BehaviourContext {
  /** The store under test, fresh for this behaviour. */
  store: SessionStore;
  /** The namespace `store` was created with. */
  namespace: string;
  /** Another store on the same backend, in a namespace of its own (cleaned up afterwards). */
  other: () => Promise<SessionStore>;
  /**
   * Another store instance on `namespace` (cleaned up with the others after the behaviour), opened
   * with the behaviour's `users` option as `store` was.
   */
  reopen: (namespace: string) => Promise<SessionStore>;
  /**
   * Handles (timers, sockets) opened before the behaviours ran (the CLI: from importing the module;
   * then capability detection's create, and its clear and close unless a `cleanup` hook is given)
   * that still keep the process alive.
   */
  earlyHandles: () => string[];
  /** A store whose backend is down (only for behaviours that require 'unreachable'). */
  unreachable: () => Promise<SessionStore>;
  options: ConformanceOptions;
}

export interface Behaviour {
  group: string;
  name: string;
  /** Capabilities the behaviour needs; without them it is reported n.a. */
  requires?: readonly Requirement[];
  /** Open the behaviour's stores (`store`, `other`, `reopen`) with this `users` option. */
  users?: UserIndexOptions;
  run: (context: BehaviourContext) => Promise<void>;
}

export type Status = 'pass' | 'fail' | 'n.a.';

export interface BehaviourResult {
  group: string;
  name: string;
  status: Status;
  /** Why it failed, or which capability was missing. */
  reason?: string;
  /** For a failure: which part of the behaviour failed (its own store calls, or the cleanup after it). */
  phase?: 'create' | 'run' | 'cleanup';
  durationMs: number;
}

export interface ConformanceReport {
  store: string;
  capabilities: StoreCapability[];
  summary: { passed: number; failed: number; notApplicable: number; total: number };
  results: BehaviourResult[];
  /**
   * Failures outside any behaviour: cleaning up the capability-detection store, errors the store
   * raised uncaught between behaviours. Each one fails the run.
   */
  strays: string[];
}
