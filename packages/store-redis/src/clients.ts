// The two Redis clients the store speaks through, behind one small interface,
// so the store's logic is written once. The public client types are declared
// here structurally: the store's types must not make a user of one client
// install the other, and neither client is loaded unless it is used.
import { setMaxListeners } from 'node:events';
import { createRequire } from 'node:module';
import { SessConfigError, withDeadline } from '@sess/core';

/**
 * An ioredis 5 client: `Redis` (Sentinel included) or `Cluster`. Declared by
 * the members the store relies on, so the store's types do not need ioredis.
 */
export interface IoredisClient {
  readonly isCluster: boolean;
  readonly status: string;
  readonly options: object;
  callBuffer(...args: [command: string, ...args: (string | Buffer | number)[]]): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** A node-redis v5 client from `createClient()`, connected by its owner. */
export interface NodeRedisClient {
  readonly isOpen: boolean;
  sendCommand(
    args: readonly (string | Buffer)[],
    options?: NodeRedisCommandOptions,
  ): Promise<unknown>;
  withTypeMapping(typeMapping: Record<number, unknown>): unknown;
}

/** A node-redis v5 cluster from `createCluster()`, connected by its owner. */
export interface NodeRedisCluster {
  readonly isOpen: boolean;
  readonly masters: readonly object[];
  sendCommand(
    firstKey: string | Buffer | undefined,
    isReadonly: boolean | undefined,
    args: readonly (string | Buffer)[],
    options?: NodeRedisCommandOptions,
  ): Promise<unknown>;
  withTypeMapping(typeMapping: Record<number, unknown>): unknown;
}

/** The command options the store passes to node-redis. */
export interface NodeRedisCommandOptions {
  typeMapping?: Record<number, unknown>;
  abortSignal?: AbortSignal;
  timeout?: number;
}

/** Any client the store accepts as `client`. */
export type RedisClient = IoredisClient | NodeRedisClient | NodeRedisCluster;

/** A Lua script and its SHA-1, as EVALSHA needs it. */
export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

/** One server to SCAN: the server itself, or one master of a cluster. */
export interface ScanNode {
  /** One SCAN step: the next cursor and the keys of this page. */
  scan(cursor: string, pattern: string, count: number): Promise<[string, string[]]>;
  /** GET each key (held by this node), in order. */
  getEach(keys: readonly string[]): Promise<(string | null)[]>;
  /** DEL each key (held by this node). */
  delEach(keys: readonly string[]): Promise<void>;
}

/** What the store needs from a client: the same commands whichever client it is. */
export interface Connection {
  get(key: string): Promise<string | null>;
  /** SET with a millisecond expiry, in one command. */
  setPx(key: string, value: string, ttlMs: number): Promise<void>;
  /** `SET … PX … NX`: whether the key was absent (and is now set). */
  setPxIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** GET with the stored bytes as they are. */
  getBuffer(key: string): Promise<Buffer | null>;
  pexpire(key: string, ttlMs: number): Promise<void>;
  /** DEL the keys (one command per key in a cluster: keys of one DEL must share a slot). */
  del(keys: readonly string[]): Promise<void>;
  /**
   * EVALSHA, loading the script with EVAL when the server lacks it. Bulk
   * replies are Buffers. In a cluster the command goes to the slot of
   * `keys[0]`, and every key must share that slot.
   */
  evalScript(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | Buffer)[],
  ): Promise<unknown>;
  /** Whether keys are spread over the slots of a cluster (a script may then touch only one slot). */
  readonly cluster: boolean;
  /** Every server holding keys: the one server, or each master of a cluster (empty when none is reachable). */
  masters(): Promise<ScanNode[]>;
  /** Ends a client the store opened, within `timeout` ms. */
  close(timeout: number): Promise<void>;
}

// --- telling the clients apart ---------------------------------------------

export function isIoredis(client: unknown): client is IoredisClient {
  return (
    typeof client === 'object' &&
    client !== null &&
    typeof (client as IoredisClient).callBuffer === 'function' &&
    typeof (client as IoredisClient).isCluster === 'boolean'
  );
}

function isNodeRedisCluster(client: object): client is NodeRedisCluster {
  return (
    'masters' in client &&
    typeof (client as { nodeClient?: unknown }).nodeClient === 'function' &&
    typeof (client as NodeRedisCluster).sendCommand === 'function'
  );
}

function isNodeRedisClient(client: object): client is NodeRedisClient {
  return (
    'isOpen' in client &&
    typeof (client as NodeRedisClient).sendCommand === 'function' &&
    !('masters' in client)
  );
}

/**
 * The connection for a client the user gave; a `SessConfigError` for anything
 * else. `timeout` is the store's bound for one command. `batchWrites`: the
 * client is a single-server ioredis connection the store opened itself, with
 * ioredis's auto-pipelining off; the store batches its socket writes (see
 * `writeBatcher`).
 */
export function connectionFor(client: unknown, timeout: number, batchWrites = false): Connection {
  if (typeof client !== 'object' || client === null) {
    throw new SessConfigError(
      `redis store: \`client\` must be an ioredis client (Redis, Cluster) or a node-redis v5 client (createClient, createCluster), not a ${typeof client}; to connect to a URL, pass it as \`url\``,
    );
  }
  if (isIoredis(client)) {
    if ((client.options as { keyPrefix?: string }).keyPrefix) {
      throw new SessConfigError(
        'redis store: the client has a keyPrefix; leave it unset and use the store `prefix` option',
      );
    }
    const io = client as unknown as IoRedis | IoCluster;
    return ioredisConnection(io, batchWrites && !io.isCluster ? writeBatcher(io) : undefined);
  }
  const nodeRedis = isNodeRedisCluster(client) || isNodeRedisClient(client);
  if (nodeRedis && typeof (client as NodeRedisClient).withTypeMapping !== 'function') {
    throw new SessConfigError(
      'redis store: this node-redis client is older than v5; pass a node-redis v5 client from createClient() or createCluster(), or an ioredis client',
    );
  }
  if (!nodeRedis && typeof (client as { sendCommand?: unknown }).sendCommand === 'function') {
    throw new SessConfigError(
      'redis store: a node-redis client in legacy mode (client.legacy()) is not supported; pass the client itself',
    );
  }
  if (isNodeRedisCluster(client)) {
    return nodeRedisClusterConnection(client as NodeCluster, commandOptions(timeout));
  }
  if (isNodeRedisClient(client)) {
    return nodeRedisConnection(client as NodeClient, commandOptions(timeout));
  }
  throw new SessConfigError(
    'redis store: `client` is neither an ioredis client (Redis, Cluster) nor a node-redis v5 client (createClient, createCluster)',
  );
}

/** A server error reply (ioredis `ReplyError`, node-redis `ErrorReply`), as opposed to a connection failure. */
export function isReplyError(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  // Matched by class name: the user's copy of the client is not ours to import.
  for (let proto = Object.getPrototypeOf(error); proto; proto = Object.getPrototypeOf(proto)) {
    const name = (proto.constructor as { name?: string } | undefined)?.name;
    if (name === 'ReplyError' || name === 'ErrorReply') return true;
    if (name === 'Error') return false;
  }
  return false;
}

function isNoScript(error: unknown): boolean {
  return isReplyError(error) && String(error.message).startsWith('NOSCRIPT');
}

// --- ioredis ---------------------------------------------------------------

/** The parts of ioredis's `Redis` the adapter uses. */
interface IoRedis extends IoredisClient {
  readonly isCluster: false;
  /** The current socket (replaced on reconnect); undefined before the first connect. */
  readonly stream?: { cork(): void; uncork(): void; readonly destroyed: boolean };
  get(key: string): Promise<string | null>;
  set(key: string, value: string, px: 'PX', ttl: number): Promise<unknown>;
  set(key: string, value: string, px: 'PX', ttl: number, nx: 'NX'): Promise<'OK' | null>;
  getBuffer(key: string): Promise<Buffer | null>;
  pexpire(key: string, ttl: number): Promise<number>;
  del(...keys: string[]): Promise<number>;
  scan(
    cursor: string,
    match: 'MATCH',
    pattern: string,
    countToken: 'COUNT',
    count: number,
  ): Promise<[string, string[]]>;
  pipeline(commands: string[][]): { exec(): Promise<[Error | null, unknown][] | null> };
  on(event: 'error', listener: (error: Error) => void): unknown;
  evalshaBuffer(sha: string, keys: number, ...args: (string | Buffer)[]): Promise<unknown>;
  evalBuffer(script: string, keys: number, ...args: (string | Buffer)[]): Promise<unknown>;
}

/** The parts of ioredis's `Cluster` the adapter uses. */
interface IoCluster extends Omit<IoRedis, 'isCluster' | 'scan' | 'pipeline' | 'stream'> {
  readonly isCluster: true;
  nodes(role: 'master'): IoRedis[];
  ping(): Promise<unknown>;
}

/**
 * Batches the socket writes of an ioredis connection the store opened:
 * before a command is sent, the socket is corked once per event-loop turn,
 * and uncorked in `setImmediate`, so the commands of every request handled in
 * that turn leave in one `writev` (ioredis otherwise writes each command to
 * the socket on its own: a system call per command, about 30 µs of CPU per
 * request in the benchmark's profile). ioredis's own auto-pipelining batches
 * the same way but costs about twice the CPU per command (a Pipeline, a
 * second Command and two promises for each); measured with 32 concurrent
 * callers on one connection, SET PX 9.2 against 4.6 µs of CPU per command,
 * GET 6.1 against 4.1. Only a connection that is ready (its socket open) is
 * corked: commands ioredis queues while offline go out when it reconnects.
 */
function writeBatcher(client: IoRedis): () => void {
  let corked = false;
  return () => {
    if (corked || client.status !== 'ready') return;
    const stream = client.stream;
    if (!stream || stream.destroyed) return;
    corked = true;
    stream.cork();
    setImmediate(() => {
      corked = false;
      stream.uncork();
    });
  };
}

function ioredisConnection(client: IoRedis | IoCluster, batch?: () => void): Connection {
  /** A command through the client, after corking its socket for this turn when batching. */
  const send = batch
    ? <T>(command: () => Promise<T>): Promise<T> => {
        batch();
        return command();
      }
    : <T>(command: () => Promise<T>): Promise<T> => command();
  const node = (server: IoRedis): ScanNode => ({
    scan: (cursor, pattern, count) => server.scan(cursor, 'MATCH', pattern, 'COUNT', count),
    // One pipeline per page: no cross-slot MGET in a cluster.
    getEach: async (keys) =>
      (
        await exec(
          server,
          keys.map((key) => ['get', key]),
        )
      ).map((value) => (typeof value === 'string' ? value : null)),
    delEach: async (keys) => {
      await exec(
        server,
        keys.map((key) => ['del', key]),
      );
    },
  });
  return {
    get: (key) => send(() => client.get(key)),
    setPx: async (key, value, ttl) => {
      await send(() => client.set(key, value, 'PX', ttl));
    },
    setPxIfAbsent: async (key, value, ttl) =>
      (await send(() => client.set(key, value, 'PX', ttl, 'NX'))) !== null,
    getBuffer: (key) => send(() => client.getBuffer(key)),
    pexpire: async (key, ttl) => {
      await send(() => client.pexpire(key, ttl));
    },
    del: async (keys) => {
      if (client.isCluster) await Promise.all(keys.map((key) => client.del(key)));
      else await send(() => client.del(...keys));
    },
    evalScript: async (script, keys, args) => {
      try {
        // The named commands, not callBuffer('EVALSHA', ...): with ioredis's
        // enableAutoPipelining, callBuffer loses its command name (the SHA
        // goes out as the command).
        return await send(() => client.evalshaBuffer(script.sha, keys.length, ...keys, ...args));
      } catch (error) {
        if (!isNoScript(error)) throw error;
        return send(() => client.evalBuffer(script.source, keys.length, ...keys, ...args));
      }
    },
    cluster: client.isCluster,
    masters: async () => {
      if (!client.isCluster) return [node(client)];
      // The node list is known once the cluster is ready; a command waits for that.
      if (client.status !== 'ready') await client.ping();
      return client.nodes('master').map(node);
    },
    close: async (timeout) => {
      if (client.status === 'ready') {
        await withDeadline(client.quit(), timeout, () => new Error('quit timed out')).catch(
          () => undefined,
        );
      }
      client.disconnect();
    },
  };
}

async function exec(server: IoRedis, commands: string[][]): Promise<unknown[]> {
  const results = await server.pipeline(commands).exec();
  return (results ?? []).map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

/** The ioredis constructors, loaded only when the store opens its own connection. */
export interface IoredisModule {
  Redis: new (...args: unknown[]) => IoredisClient;
  Cluster: new (...args: unknown[]) => IoredisClient;
}

export function loadIoredis(): IoredisModule {
  try {
    return createRequire(import.meta.url)('ioredis') as IoredisModule;
  } catch (cause) {
    if ((cause as { code?: string }).code === 'MODULE_NOT_FOUND') {
      throw new SessConfigError(
        'redis store: opening a connection from `url`, `redis` or `cluster` needs ioredis (npm install ioredis); with node-redis, connect your own client and pass it as `client`',
        { cause },
      );
    }
    throw cause;
  }
}

// --- node-redis v5 ---------------------------------------------------------

/** RESP type byte of a bulk string (`$`): mapped to `Buffer` where the store needs the exact bytes. */
const BLOB_STRING = 36;

/** The command options of one window of time: the store's reply types and the window's abort signal. */
interface WindowOptions {
  strings: NodeRedisCommandOptions;
  buffers: NodeRedisCommandOptions;
}

/**
 * The store's own reply types, whatever type mapping the user's client has;
 * and its time bound, so that a command still queued while the client is
 * offline is dropped when the store gives up on it, instead of being sent
 * (a write the caller saw fail, applied later) once the client reconnects.
 *
 * node-redis's per-command `timeout` option makes an `AbortSignal.timeout()`
 * for every command (about 12 µs of CPU each, more than the rest of the
 * command). Instead, the commands sent within one window of `timeout / 16`
 * ms share one abort signal, aborted `timeout` ms after the window opened:
 * a command still unsent then is dropped from the client's queue, after
 * between 15/16 of the bound and the whole bound; a command already written
 * is not affected (node-redis removes its listener when it writes it). One
 * controller and one unref'd timer per window, none while the store is idle.
 */
function commandOptions(timeout: number): () => WindowOptions {
  const window = Math.max(1, Math.floor(timeout / 16));
  let until = 0;
  let current: WindowOptions | undefined;
  return () => {
    const now = Date.now();
    if (current === undefined || now >= until) {
      const controller = new AbortController();
      // Every command of the window listens on it until written: no listener cap.
      setMaxListeners(0, controller.signal);
      setTimeout(() => controller.abort(), timeout).unref();
      until = now + window;
      const abortSignal = controller.signal;
      current = {
        strings: { typeMapping: {}, abortSignal },
        buffers: { typeMapping: { [BLOB_STRING]: Buffer }, abortSignal },
      };
    }
    return current;
  };
}
type Replies = ReturnType<typeof commandOptions>;

type NodeClient = NodeRedisClient;

interface NodeCluster extends NodeRedisCluster {
  nodeClient(master: object): Promise<NodeClient> | NodeClient;
}

function nodeRedisNode(client: NodeClient, replies: Replies): ScanNode {
  const send = (args: string[]) => client.sendCommand(args, replies().strings);
  return {
    scan: async (cursor, pattern, count) => {
      const reply = await send(['SCAN', cursor, 'MATCH', pattern, 'COUNT', String(count)]);
      const [next, keys] = reply as [string, string[]];
      return [String(next), keys];
    },
    // Commands sent in one tick go out as one pipeline.
    getEach: (keys) => Promise.all(keys.map(async (key) => asString(await send(['GET', key])))),
    delEach: async (keys) => {
      await Promise.all(keys.map((key) => send(['DEL', key])));
    },
  };
}

function nodeRedisConnection(client: NodeClient, replies: Replies): Connection {
  const send = (args: (string | Buffer)[], buffers = false) =>
    client.sendCommand(args, buffers ? replies().buffers : replies().strings);
  return {
    get: async (key) => asString(await send(['GET', key])),
    setPx: async (key, value, ttl) => {
      await send(['SET', key, value, 'PX', String(ttl)]);
    },
    setPxIfAbsent: async (key, value, ttl) =>
      (await send(['SET', key, value, 'PX', String(ttl), 'NX'])) !== null,
    getBuffer: async (key) => asBuffer(await send(['GET', key], true)),
    pexpire: async (key, ttl) => {
      await send(['PEXPIRE', key, String(ttl)]);
    },
    del: async (keys) => {
      await send(['DEL', ...keys]);
    },
    evalScript: async (script, keys, args) => {
      const tail = [String(keys.length), ...keys, ...args];
      try {
        return await send(['EVALSHA', script.sha, ...tail], true);
      } catch (error) {
        if (!isNoScript(error)) throw error;
        return send(['EVAL', script.source, ...tail], true);
      }
    },
    cluster: false,
    masters: async () => [nodeRedisNode(client, replies)],
    // The store never opens a node-redis client, so it never closes one.
    close: async () => undefined,
  };
}

function nodeRedisClusterConnection(cluster: NodeCluster, replies: Replies): Connection {
  // Routed by key: the cluster follows MOVED and ASK itself.
  const send = (key: string, readonly: boolean, args: (string | Buffer)[], buffers = false) =>
    cluster.sendCommand(key, readonly, args, buffers ? replies().buffers : replies().strings);
  return {
    // Writes and reads both go to the master: a replica may not have the last write yet.
    get: async (key) => asString(await send(key, false, ['GET', key])),
    setPx: async (key, value, ttl) => {
      await send(key, false, ['SET', key, value, 'PX', String(ttl)]);
    },
    setPxIfAbsent: async (key, value, ttl) =>
      (await send(key, false, ['SET', key, value, 'PX', String(ttl), 'NX'])) !== null,
    getBuffer: async (key) => asBuffer(await send(key, false, ['GET', key], true)),
    pexpire: async (key, ttl) => {
      await send(key, false, ['PEXPIRE', key, String(ttl)]);
    },
    del: async (keys) => {
      await Promise.all(keys.map((key) => send(key, false, ['DEL', key])));
    },
    evalScript: async (script, keys, args) => {
      const [key = ''] = keys;
      const tail = [String(keys.length), ...keys, ...args];
      try {
        return await send(key, false, ['EVALSHA', script.sha, ...tail], true);
      } catch (error) {
        if (!isNoScript(error)) throw error;
        return send(key, false, ['EVAL', script.source, ...tail], true);
      }
    },
    cluster: true,
    masters: async () => {
      const clients = await Promise.all(
        cluster.masters.map((master) => cluster.nodeClient(master)),
      );
      return clients.map((client) => nodeRedisNode(client, replies));
    },
    close: async () => undefined,
  };
}

function asBuffer(reply: unknown): Buffer | null {
  if (reply === null || reply === undefined) return null;
  return Buffer.isBuffer(reply) ? reply : Buffer.from(String(reply));
}

function asString(reply: unknown): string | null {
  if (reply === null || reply === undefined) return null;
  return typeof reply === 'string' ? reply : String(reply);
}
