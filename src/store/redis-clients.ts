/**
 * Connections to the dedup store's Redis: one instance, several independent
 * masters, or a Redis Cluster; each with the dedup scripts defined on it.
 */
import { readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import type { TlsFiles } from '../common/tls.js';

/** `keys: undefined`: the script takes any number of keys, given first in the call. */
const SCRIPTS = {
  dedupBegin: { file: 'begin.lua', keys: 1 },
  dedupExtend: { file: 'extend.lua', keys: 1 },
  dedupComplete: { file: 'complete.lua', keys: 1 },
  dedupRelease: { file: 'release.lua', keys: 1 },
  dedupInspect: { file: 'inspect.lua', keys: 1 },
  dedupForget: { file: 'forget.lua', keys: 1 },
  dedupRaise: { file: 'raise.lua', keys: 1, bare: true },
  dedupLayout: { file: 'layout.lua', keys: 1, bare: true },
  dedupLayoutMove: { file: 'layout-move.lua', keys: 1, bare: true },
  dedupLayoutLeases: { file: 'layout-leases.lua', keys: 3, bare: true },
  dedupCompleteEffects: { file: 'complete-effects.lua', keys: undefined },
} as const;

type Arg = string | number;
/** One id's answer to begin.lua: its reply is three values per id, in one flat list (beginVotes splits it). */
export type BeginVote = [0, string] | [1, number] | [2, number, number];

/** The dedup scripts; see each file's header in src/lua. The first argument is a routing key. */
export interface Scripts {
  dedupBegin(route: string, ...args: Arg[]): Promise<(string | number)[]>;
  dedupExtend(route: string, ...args: Arg[]): Promise<(0 | 1)[]>;
  /** 1 recorded in the slot the caller named, 2 in another, 0 not ours (complete.lua). */
  dedupComplete(route: string, ...args: Arg[]): Promise<(0 | 1 | 2)[]>;
  dedupRelease(route: string, ...args: Arg[]): Promise<(0 | 1)[]>;
  dedupInspect(route: string, ...args: Arg[]): Promise<[string | null, number, string | null, number, string | null]>;
  dedupForget(route: string, ...args: Arg[]): Promise<-1 | 0 | 1>;
  dedupRaise(fence: string, value: Arg, ttlMs: Arg): Promise<0 | 1>;
  /** The stored layout after the call: format, window, slot, buckets, set at, compat until (null when none). */
  dedupLayout(key: string, format: Arg, windowMs: Arg, slotMs: Arg, buckets: Arg, expectedWindowMs: Arg, earlierKeys: Arg): Promise<(string | null)[]>;
  dedupLayoutMove(to: string, expireAtMs: Arg, ...fieldsAndRecords: string[]): Promise<number>;
  /** Format 1's lease and counter keys of one id, format 2's lease key, the window (ms): 1 moved, 0 nothing there. */
  dedupLayoutLeases(lock: string, fence: string, lease: string, windowMs: Arg): Promise<0 | 1>;
  /** numKeys, lease, grant counter, effect keys..., then the arguments of complete-effects.lua. */
  dedupCompleteEffects(numKeys: number, ...args: Arg[]): Promise<0 | 1>;
}
export type ScriptedRedis = Redis & Scripts;
export type ScriptedCluster = Cluster & Scripts;

/**
 * The scripts that name an id's keys get the shared record and lease code prepended, and
 * may touch keys of several hash slots of the node they run on (Redis Cluster).
 */
function scriptSource(file: string, bare: boolean): string {
  const read = (f: string): string => readFileSync(new URL(`./lua/${f}`, import.meta.url), 'utf8');
  return bare ? read(file) : `#!lua flags=allow-cross-slot-keys\n${read('records.lib.lua')}\n${read('leases.lib.lua')}\n${read(file)}`;
}

/** Register the dedup scripts on a client (EVALSHA, falling back to EVAL once per connection). */
export function defineScripts<C extends Redis | Cluster>(client: C): C & Scripts {
  for (const [name, s] of Object.entries(SCRIPTS)) {
    const lua = scriptSource(s.file, 'bare' in s);
    client.defineCommand(name, s.keys === undefined ? { lua } : { lua, numberOfKeys: s.keys });
  }
  return client as C & Scripts;
}

/**
 * Every call has a timeout and commands fail fast while disconnected (no offline
 * queue): a lock client must never hang. The client reconnects by itself, without
 * sending again what was unanswered when the connection dropped: its caller has
 * already failed and handled it, so a late begin would grant a lease nobody holds.
 */
export function connectRedis(url: string, tls: TlsFiles = {}, commandTimeoutMs = 2000, connectionName?: string): ScriptedRedis {
  const client = new Redis(url, {
    ...(connectionName !== undefined && { connectionName }),
    // rediss:// turns TLS on by itself; these add a private CA or a client certificate.
    ...(url.startsWith('rediss:') && Object.keys(tls).length > 0 ? { tls: { ...tls } } : {}),
    commandTimeout: commandTimeoutMs,
    connectTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    // The pipeline batches calls itself; auto-pipelining would hold each call until the
    // previous pipeline's reply is in (one in flight per connection), adding a round trip.
    enableAutoPipelining: false,
  });
  // Errors surface on the commands that fail; the event only needs a listener so it is not thrown.
  client.on('error', () => {});
  return defineScripts(client);
}

/**
 * A Redis Cluster from its seed nodes. Redirections (MOVED, ASK) and CLUSTERDOWN are
 * retried by the client briefly, then by the store until its retry window ends.
 */
export function connectCluster(urls: string[], tls: TlsFiles = {}, commandTimeoutMs = 2000, connectionName?: string): ScriptedCluster {
  const seeds = urls.map((u) => {
    const { hostname, port } = new URL(u);
    return { host: hostname, port: Number(port || 6379) };
  });
  const first = new URL(urls[0]!);
  const cluster = new Cluster(seeds, {
    enableOfflineQueue: false,
    enableAutoPipelining: false,
    retryDelayOnClusterDown: 200,
    retryDelayOnFailover: 200,
    maxRedirections: 8,
    slotsRefreshTimeout: commandTimeoutMs,
    redisOptions: {
      ...(connectionName !== undefined && { connectionName }),
      ...(first.username && { username: decodeURIComponent(first.username) }),
      ...(first.password && { password: decodeURIComponent(first.password) }),
      ...(first.protocol === 'rediss:' && { tls: { ...tls } }),
      commandTimeout: commandTimeoutMs,
      connectTimeout: commandTimeoutMs,
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false,
    },
  });
  cluster.on('error', () => {});
  return defineScripts(cluster);
}

/** begin.lua's flat reply (state, value, fence for each id), one vote per id. */
export function beginVotes(reply: (string | number)[]): BeginVote[] {
  const votes = new Array<BeginVote>(reply.length / 3);
  for (let i = 0, j = 0; j < reply.length; i++, j += 3) {
    const state = reply[j];
    votes[i] = state === 0 ? [0, String(reply[j + 1])] : state === 1 ? [1, Number(reply[j + 1])] : [2, Number(reply[j + 1]), Number(reply[j + 2])];
  }
  return votes;
}
