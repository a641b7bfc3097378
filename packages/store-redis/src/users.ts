// The per-user index of the Redis store (the `users` option): which sessions
// belong to a user, kept by the same Lua script as the session write on one
// server, and by a fixed order of single-slot scripts on a cluster (see
// README, "Sessions by user").
import { createHash } from 'node:crypto';
import {
  compareUserSessions,
  type SessionRecord,
  StoreError,
  type StoreOperation,
  sessionCreatedAt,
  sessionExpiry,
  type UserIndex,
  type UserSessionInfo,
} from '@sess/core';
import type { Connection, LuaScript } from './clients.js';

/*
 * Keys, beside the session's own `<prefix><id>` (unchanged, connect-redis's layout):
 * - `<index>u:{<user>}`      sorted set of the user's session ids, scored by creation time (ms);
 * - `<index>u:{<user>}:exp`  the same ids scored by expiry (ms), so expired members are dropped
 *                            by a range query; both live as long as their last member;
 * - `<index>of:{<prefix><id>}` the user a session is indexed under, with the session's own expiry.
 * The braces are cluster hash tags: the two user keys share a slot, and the pointer shares the
 * session key's slot (the tag is the whole session key, so that key itself needs no tag). A
 * session key that has a tag of its own (a prefix such as `{sess}:`) keeps it: the pointer is
 * then `<index>of:<prefix><id>`, whose first tag is the same.
 * User ids are written with `%`, `{` and `}` escaped, so the tag is exactly the user.
 */

const LIB = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function num(x)
  return string.format('%.0f', x)
end
local function pointer_key(ipfx, skey)
  local i = string.find(skey, '{', 1, true)
  if i then
    local j = string.find(skey, '}', i + 1, true)
    if j and j > i + 1 then return ipfx .. 'of:' .. skey end
  end
  return ipfx .. 'of:{' .. skey .. '}'
end
local function user_keys(ipfx, user)
  local u = ipfx .. 'u:{' .. user .. '}'
  return u, u .. ':exp'
end
-- both user keys expire with their last member
local function keep(U, E)
  local last = redis.call('ZRANGE', E, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('DEL', U, E)
  else
    redis.call('PEXPIREAT', U, last[2])
    redis.call('PEXPIREAT', E, last[2])
  end
end
local function purge(U, E, now)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', E, '-inf', num(now))) do
    redis.call('ZREM', U, m)
    redis.call('ZREM', E, m)
  end
end
-- index id under the user; beyond max members, unindex the oldest others and return them
local function index_add(U, E, id, created, expires, max, now)
  purge(U, E, now)
  redis.call('ZADD', U, created, id)
  redis.call('ZADD', E, num(expires), id)
  local evicted = {}
  if max > 0 then
    local excess = redis.call('ZCARD', U) - max
    if excess > 0 then
      for _, m in ipairs(redis.call('ZRANGE', U, 0, excess)) do
        if #evicted < excess and m ~= id then
          evicted[#evicted + 1] = m
          redis.call('ZREM', U, m)
          redis.call('ZREM', E, m)
        end
      end
    end
  end
  keep(U, E)
  return evicted
end
local function index_remove(U, E, id)
  redis.call('ZREM', U, id)
  redis.call('ZREM', E, id)
  keep(U, E)
end
-- KEYS: session, pointer. A: mode ('set' | 'cas'), expected flag, expected bytes, text, ttl, user.
-- {1, old user or ''} when written; {0} absent but expected; {2, stored bytes} another value.
local function write_session(S, P, A)
  if A[1] == 'cas' then
    local current = redis.call('GET', S)
    if A[2] == '1' then
      if not current then return {0} end
      if current ~= A[3] then return {2, current} end
    elseif current then
      return {2, current}
    end
  end
  local old = redis.call('GET', P)
  local ttl = tonumber(A[5])
  if ttl <= 0 then
    redis.call('DEL', S, P)
  else
    redis.call('SET', S, A[4], 'PX', ttl)
    if A[6] ~= '' then
      redis.call('SET', P, A[6], 'PX', ttl)
    elseif old then
      redis.call('DEL', P)
    end
  end
  return {1, old or ''}
end
`;

function script(body: string): LuaScript {
  const source = LIB + body;
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

// --- one server: every write is one script --------------------------------

/** KEYS: session, pointer. ARGV 1-6 as write_session; 7 index prefix, 8 session prefix, 9 id, 10 created, 11 max. */
const WRITE = script(`
local r = write_session(KEYS[1], KEYS[2], ARGV)
if r[1] ~= 1 then return r end
local old, user, id, ttl = r[2], ARGV[6], ARGV[9], tonumber(ARGV[5])
if old ~= '' and (old ~= user or ttl <= 0) then
  local U, E = user_keys(ARGV[7], old)
  index_remove(U, E, id)
end
if user ~= '' and ttl > 0 then
  local now = now_ms()
  local U, E = user_keys(ARGV[7], user)
  for _, m in ipairs(index_add(U, E, id, ARGV[10], now + ttl, tonumber(ARGV[11]), now)) do
    local skey = ARGV[8] .. m
    redis.call('DEL', skey, pointer_key(ARGV[7], skey))
  end
end
return r
`);

/** KEYS: session, pointer. ARGV: index prefix, id. */
const DESTROY = script(`
local old = redis.call('GET', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
if old then
  local U, E = user_keys(ARGV[1], old)
  index_remove(U, E, ARGV[2])
end
return 1
`);

/** KEYS: session, pointer. ARGV: index prefix, id, ttl (> 0), created. */
const TOUCH = script(`
local ttl = tonumber(ARGV[3])
if redis.call('PEXPIRE', KEYS[1], ttl) == 1 then
  local user = redis.call('GET', KEYS[2])
  if user then
    redis.call('PEXPIRE', KEYS[2], ttl)
    local now = now_ms()
    local U, E = user_keys(ARGV[1], user)
    index_add(U, E, ARGV[2], ARGV[4], now + ttl, 0, now)
  end
end
return 1
`);

/** KEYS: user, user expiry. ARGV: session prefix. Flat [id, text, pttl, ...]; members whose session is gone are unindexed. */
const LIST = script(`
purge(KEYS[1], KEYS[2], now_ms())
local out = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local skey = ARGV[1] .. m
  local text = redis.call('GET', skey)
  if text then
    out[#out + 1] = m
    out[#out + 1] = text
    out[#out + 1] = redis.call('PTTL', skey)
  else
    redis.call('ZREM', KEYS[1], m)
    redis.call('ZREM', KEYS[2], m)
  end
end
keep(KEYS[1], KEYS[2])
return out
`);

/** KEYS: user, user expiry. ARGV: index prefix, session prefix, id to keep ('' for none). The number of live sessions deleted. */
const DESTROY_USER = script(`
purge(KEYS[1], KEYS[2], now_ms())
local n = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if m ~= ARGV[3] then
    local skey = ARGV[2] .. m
    n = n + redis.call('EXISTS', skey)
    redis.call('DEL', skey, pointer_key(ARGV[1], skey))
    redis.call('ZREM', KEYS[1], m)
    redis.call('ZREM', KEYS[2], m)
  end
end
keep(KEYS[1], KEYS[2])
return n
`);

// --- cluster: one slot per script ------------------------------------------

/** KEYS: session, pointer. ARGV as write_session. */
const SESSION_WRITE = script('return write_session(KEYS[1], KEYS[2], ARGV)');

/** KEYS: session, pointer. The user it was indexed under, or ''. */
const SESSION_DESTROY = script(`
local old = redis.call('GET', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return old or ''
`);

/** KEYS: session, pointer. ARGV: ttl (> 0). The session's user when it exists and has one, else ''. */
const SESSION_TOUCH = script(`
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 1 then
  local user = redis.call('GET', KEYS[2])
  if user then
    redis.call('PEXPIRE', KEYS[2], ARGV[1])
    return user
  end
end
return ''
`);

/** KEYS: session, pointer. [text or '', pttl, user or '']. */
const SESSION_READ = script(`
return {redis.call('GET', KEYS[1]) or '', redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2]) or ''}
`);

/** KEYS: session, pointer. ARGV: user. Deletes the session only if it is still that user's; 1 when a live session was deleted. */
const SESSION_EVICT = script(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local n = redis.call('EXISTS', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
return n
`);

/** KEYS: user, user expiry. ARGV: id, created, ttl, max. The evicted ids. */
const INDEX_ADD = script(`
local now = now_ms()
return index_add(KEYS[1], KEYS[2], ARGV[1], ARGV[2], now + tonumber(ARGV[3]), tonumber(ARGV[4]), now)
`);

/** KEYS: user, user expiry. ARGV: ids. */
const INDEX_REMOVE = script(`
for _, m in ipairs(ARGV) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZREM', KEYS[2], m)
end
keep(KEYS[1], KEYS[2])
return 1
`);

/** KEYS: user, user expiry. The live members, oldest first. */
const INDEX_MEMBERS = script(`
purge(KEYS[1], KEYS[2], now_ms())
keep(KEYS[1], KEYS[2])
return redis.call('ZRANGE', KEYS[1], 0, -1)
`);

/** The scripts, for tests that check they load. */
export const USER_SCRIPTS: readonly LuaScript[] = [
  WRITE,
  DESTROY,
  TOUCH,
  LIST,
  DESTROY_USER,
  SESSION_WRITE,
  SESSION_DESTROY,
  SESSION_TOUCH,
  SESSION_READ,
  SESSION_EVICT,
  INDEX_ADD,
  INDEX_REMOVE,
  INDEX_MEMBERS,
];

/** What a write script answers: written (with the user the session was indexed under before), or the CAS miss. */
export type WriteReply = { written: true } | { written: false; stored: Buffer | null };

/** The store's own plumbing the index uses. */
export interface IndexHost {
  readonly connection: Connection;
  readonly prefix: string;
  readonly indexPrefix: string;
  /** One command within the store's bound, failures as StoreErrors. */
  call<T>(operation: StoreOperation, work: () => Promise<T>): Promise<T>;
  decode(text: string): Promise<SessionRecord | null>;
}

/** `%`, `{` and `}` escaped, so the user is exactly the hash tag of its keys. */
function escapeUser(user: string): string {
  return user.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Whether a key has a cluster hash tag: a `{` followed later by a `}` with something between. */
function hasTag(key: string): boolean {
  const open = key.indexOf('{');
  if (open === -1) return false;
  const close = key.indexOf('}', open + 1);
  return close > open + 1;
}

export class RedisUserIndex {
  readonly #host: IndexHost;
  readonly #index: UserIndex;
  /** 0 when there is no cap (the scripts' convention). */
  readonly #max: number;

  constructor(host: IndexHost, index: UserIndex) {
    this.#host = host;
    this.#index = index;
    this.#max = Number.isFinite(index.maxSessionsPerUser) ? index.maxSessionsPerUser : 0;
  }

  userOf(session: SessionRecord): string | null {
    return this.#index.userOf(session);
  }

  /**
   * `set` (`expected` undefined) or `compareAndSet` against the stored bytes
   * `expected.bytes` (`null`: no record), with the index. `ttl` <= 0 deletes.
   */
  async write(
    operation: StoreOperation,
    id: string,
    session: SessionRecord,
    text: string,
    ttl: number,
    expected?: { bytes: string | Buffer | null },
  ): Promise<WriteReply> {
    const user = this.#index.userOf(session);
    const [skey, pkey] = this.#sessionKeys(operation, id);
    const indexed = user === null ? '' : escapeUser(user);
    const wanted = expected?.bytes ?? null;
    const args = [
      expected === undefined ? 'set' : 'cas',
      wanted === null ? '0' : '1',
      wanted ?? '',
      text,
      String(ttl),
      indexed,
    ];
    const created = String(sessionCreatedAt(session) ?? 0);
    const { connection } = this.#host;
    if (!connection.cluster) {
      const reply = await this.#eval(
        operation,
        WRITE,
        [skey, pkey],
        [...args, this.#host.indexPrefix, this.#host.prefix, id, created, String(this.#max)],
      );
      return writeReply(reply);
    }
    // Cluster: the session's slot first, then the user's. A session is in its
    // user's index from the moment its write returns; a remover re-checks the
    // pointer after unindexing (see #unindex), so no interleaving of writers
    // and removers leaves a live session out of the index.
    const reply = await this.#eval(operation, SESSION_WRITE, [skey, pkey], args);
    const result = writeReply(reply);
    if (!result.written) return result;
    const old = replyText((reply as unknown[])[1]);
    const steps: Promise<unknown>[] = [];
    if (indexed !== '' && ttl > 0) {
      steps.push(
        (async () => {
          const evicted = await this.#eval(operation, INDEX_ADD, this.#userKeys(indexed), [
            id,
            created,
            String(ttl),
            String(this.#max),
          ]);
          await Promise.all(
            replyList(evicted).map((other) =>
              this.#eval(operation, SESSION_EVICT, this.#sessionKeys(operation, other), [indexed]),
            ),
          );
        })(),
      );
    }
    if (old !== '' && (old !== indexed || ttl <= 0))
      steps.push(this.#unindex(operation, old, [id]));
    await Promise.all(steps);
    return result;
  }

  async destroy(id: string): Promise<void> {
    const keys = this.#sessionKeys('destroy', id);
    if (!this.#host.connection.cluster) {
      await this.#eval('destroy', DESTROY, keys, [this.#host.indexPrefix, id]);
      return;
    }
    const old = replyText(await this.#eval('destroy', SESSION_DESTROY, keys, []));
    if (old !== '') await this.#unindex('destroy', old, [id]);
  }

  /** `ttl` > 0 (a past expiry is a destroy). */
  async touch(id: string, session: SessionRecord, ttl: number): Promise<void> {
    const keys = this.#sessionKeys('touch', id);
    const created = String(sessionCreatedAt(session) ?? 0);
    if (!this.#host.connection.cluster) {
      await this.#eval('touch', TOUCH, keys, [this.#host.indexPrefix, id, String(ttl), created]);
      return;
    }
    const user = replyText(await this.#eval('touch', SESSION_TOUCH, keys, [String(ttl)]));
    // Moves the member's expiry; also puts back a member a failed write left out.
    if (user !== '') {
      await this.#eval('touch', INDEX_ADD, this.#userKeys(user), [id, created, String(ttl), '0']);
    }
  }

  async list(operation: StoreOperation, user: string): Promise<UserSessionInfo[]> {
    if (user === '') return [];
    const escaped = escapeUser(user);
    const rows: { id: string; text: string; pttl: number }[] = [];
    if (!this.#host.connection.cluster) {
      const flat = replyArray(
        await this.#eval(operation, LIST, this.#userKeys(escaped), [this.#host.prefix]),
      );
      for (let i = 0; i + 2 < flat.length; i += 3) {
        rows.push({
          id: replyText(flat[i]),
          text: replyText(flat[i + 1]),
          pttl: Number(flat[i + 2]),
        });
      }
    } else {
      const ids = replyList(
        await this.#eval(operation, INDEX_MEMBERS, this.#userKeys(escaped), []),
      );
      const read = await Promise.all(ids.map((id) => this.#read(operation, id)));
      const stale: string[] = [];
      ids.forEach((id, i) => {
        const { text, pttl, pointer } = read[i] as SessionRead;
        if (text !== '' && pointer === escaped) rows.push({ id, text, pttl });
        else stale.push(id);
      });
      if (stale.length > 0) await this.#unindex(operation, escaped, stale);
    }
    const now = Date.now();
    const found: UserSessionInfo[] = [];
    for (const row of rows) {
      const record = await this.#host.decode(row.text);
      // The index follows sess's writes; a record rewritten by another
      // program (connect-redis) for another user, or unreadable, is not reported.
      if (record === null || this.#index.userOf(record) !== user) continue;
      // A browser-session cookie has no expiry to report (the key's is the store's default lifetime).
      const expiresAt =
        sessionExpiry(record) !== null && row.pttl >= 0 ? now + row.pttl : undefined;
      found.push(this.#index.info(row.id, record, expiresAt));
    }
    return found.sort(compareUserSessions);
  }

  async destroyAll(user: string, exceptId?: string): Promise<number> {
    const operation = 'destroyUserSessions';
    if (user === '') return 0;
    const escaped = escapeUser(user);
    if (!this.#host.connection.cluster) {
      const n = await this.#eval(operation, DESTROY_USER, this.#userKeys(escaped), [
        this.#host.indexPrefix,
        this.#host.prefix,
        exceptId ?? '',
      ]);
      return Number(n);
    }
    const ids = replyList(
      await this.#eval(operation, INDEX_MEMBERS, this.#userKeys(escaped), []),
    ).filter((id) => id !== exceptId);
    const deleted = await Promise.all(
      ids.map((id) =>
        this.#eval(operation, SESSION_EVICT, this.#sessionKeys(operation, id), [escaped]),
      ),
    );
    if (ids.length > 0) await this.#unindex(operation, escaped, ids);
    return deleted.reduce<number>((sum, n) => sum + Number(n), 0);
  }

  /**
   * Cluster only: take ids out of a user's index, then re-read each
   * session's pointer and index again any that a concurrent write gave back
   * to that user. A writer's order (session, then index) and this order
   * (index, then session) mean one of the two always sees the other: either
   * the writer's index add comes after the removal, or the pointer it wrote
   * is visible to the re-read.
   */
  async #unindex(
    operation: StoreOperation,
    escaped: string,
    ids: readonly string[],
  ): Promise<void> {
    await this.#eval(operation, INDEX_REMOVE, this.#userKeys(escaped), ids);
    await Promise.all(
      ids.map(async (id) => {
        const { text, pttl, pointer } = await this.#read(operation, id);
        if (text === '' || pointer !== escaped || pttl === -2) return;
        const record = await this.#host.decode(text);
        const created = String((record && sessionCreatedAt(record)) ?? 0);
        // A key without expiry (written by another program) is indexed for the default day.
        const ttl = pttl > 0 ? pttl : 86_400_000;
        await this.#eval(operation, INDEX_ADD, this.#userKeys(escaped), [
          id,
          created,
          String(ttl),
          '0',
        ]);
      }),
    );
  }

  async #read(operation: StoreOperation, id: string): Promise<SessionRead> {
    const reply = replyArray(
      await this.#eval(operation, SESSION_READ, this.#sessionKeys(operation, id), []),
    );
    return { text: replyText(reply[0]), pttl: Number(reply[1]), pointer: replyText(reply[2]) };
  }

  /** The session key and its pointer, which shares its cluster slot. */
  #sessionKeys(operation: StoreOperation, id: string): [string, string] {
    const skey = this.#host.prefix + id;
    if (hasTag(skey)) return [skey, `${this.#host.indexPrefix}of:${skey}`];
    if (this.#host.connection.cluster && skey.includes('}')) {
      throw new StoreError(
        'redis',
        operation,
        `the session id ${JSON.stringify(id)} has a "}" outside a hash tag, so its user cannot be indexed in its cluster slot; use ids without braces (the default generator's)`,
      );
    }
    return [skey, `${this.#host.indexPrefix}of:{${skey}}`];
  }

  #userKeys(escaped: string): [string, string] {
    const key = `${this.#host.indexPrefix}u:{${escaped}}`;
    return [key, `${key}:exp`];
  }

  #eval(
    operation: StoreOperation,
    lua: LuaScript,
    keys: readonly string[],
    args: readonly (string | Buffer)[],
  ): Promise<unknown> {
    return this.#host.call(operation, () => this.#host.connection.evalScript(lua, keys, args));
  }
}

interface SessionRead {
  text: string;
  pttl: number;
  pointer: string;
}

function writeReply(reply: unknown): WriteReply {
  const parts = replyArray(reply);
  const status = Number(parts[0]);
  if (status === 1) return { written: true };
  if (status === 0) return { written: false, stored: null };
  const stored = parts[1];
  return {
    written: false,
    stored: Buffer.isBuffer(stored) ? stored : Buffer.from(String(stored)),
  };
}

function replyArray(reply: unknown): unknown[] {
  return Array.isArray(reply) ? reply : [];
}

function replyList(reply: unknown): string[] {
  return replyArray(reply).map(replyText);
}

function replyText(reply: unknown): string {
  if (reply === null || reply === undefined) return '';
  return Buffer.isBuffer(reply) ? reply.toString() : String(reply);
}
