/**
 * Every Redis key dedup-pool touches is named here.
 *
 * Keys live under `<prefix>:<scope>:`, the scope being the dedup id space: the
 * queue by default, or a name several queues share on purpose (--dedup-scope).
 * An id's keys carry a hash tag `{bucket}` (the bucket comes from a digest of the
 * id), so in a Redis Cluster its lease, counter and record hashes share one slot
 * while ids spread over every master. Completion records live in small per-slot,
 * per-bucket hashes (see src/store/lua/records.lib.lua), field = a 112-bit digest of the id.
 *
 *   <prefix>:<scope>:r:{<bucket>}:<time slot>   hash of completion records
 *   <prefix>:<scope>:done:{<bucket>}:<id>       a record too long for that hash
 *   <prefix>:<scope>:lease:{<bucket>}:<id>      lease (Redlock resource) and grant counter: fencing
 *                                               token and attempt count (src/store/lua/leases.lib.lua)
 *   <prefix>:<scope>:lock:{<bucket>}:<id>       layout format 1 (earlier versions): the lease,
 *   <prefix>:<scope>:fence:{<bucket>}:<id>        and the grant counter apart
 *   <prefix>:done:<id>                          record of versions before scopes, still read
 *   <prefix>:<scope>:layout                     the record layout settings (src/store/layout.ts)
 *   <prefix>:<scope>:outbox                     Redis-atomic mode: follow-ups committed with effects, until sent
 *
 * Ids go into key names as they are when short and printable; otherwise (long ids,
 * control characters) as a SHA-256, so a hostile id can never make a key huge or
 * ambiguous.
 */
import { createHash, hash } from 'node:crypto';

// A leading "#" marks the hashed form, so ids that start with it are hashed too.
const SAFE_ID = /^(?!#)[\x21-\x7e]{1,128}$/;

export function idKeyPart(id: string): string {
  return SAFE_ID.test(id) ? id : `#${createHash('sha256').update(id).digest('base64url')}`;
}

/** The dedup id space of a consumer: its --dedup-scope, else its queue. */
export function scopeOf(opts: { queue: string; dedupScope?: string | undefined }): string {
  return opts.dedupScope ?? opts.queue;
}

/**
 * The version of the record layout's format (digests, key names, slots per window), stored
 * with the layout; raised when one changes. 2: an id's lease and grant counter in one key.
 * Scopes stored with format 1 keep its two keys (layout set moves them to 2: docs/layout.md).
 */
export const LAYOUT_FORMAT = 2;

/** Default number of record hashes per time slot (--dedup-buckets). */
export const DEFAULT_BUCKETS = 1024;

/** Where one id lives: its hash tag, its key part, and the digest that names its record. */
export interface IdKey {
  /** `{bucket}`: the Redis Cluster hash tag of every key of the id. */
  tag: string;
  part: string;
  /** 112 bits of the id's SHA-256 (after the 32 that pick the bucket) as 16 7-bit characters: the record's field. */
  field: string;
}

/**
 * Bytes as characters of 7 bits each (14 bytes -> 16 characters): every character
 * is one byte in UTF-8, so the field goes to Redis as a plain string (a Buffer
 * argument costs the client several microseconds per call) and stays 16 bytes.
 */
function sevenBit(bytes: Buffer): string {
  const out = Buffer.allocUnsafe(Math.floor((bytes.length * 8) / 7));
  let n = 0;
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 7) {
      bits -= 7;
      out[n++] = (acc >> bits) & 0x7f;
    }
    acc &= (1 << bits) - 1;
  }
  // One decode instead of a string built a character at a time.
  return out.toString('latin1', 0, n);
}

export interface Keys {
  readonly scope: string;
  /** `<prefix>:<scope>:`, which every key of the scope starts with. */
  readonly base: string;
  /** The hash of the scope's record layout settings. */
  readonly layout: string;
  readonly buckets: number;
  /** The layout format whose key names these are. */
  readonly format: number;
  /** The key prefixes every script gets first (records.lib.lua), in order; fence is "" in format 2, legacy when not read. */
  readonly prefixes: readonly [rec: string, own: string, lease: string, fence: string, legacy: string];
  id(id: string): IdKey;
  /** The id's lease key (of the id, or of its keys named already). */
  lock(id: string | IdKey): string;
  /** The id's grant counter key (format 2: the lease key, whose value starts with it). */
  fence(id: string | IdKey): string;
  /** The same keys in another layout format (a scope stored by an earlier version). */
  withFormat(format: number): Keys;
}

export interface KeysOptions {
  /** Record hashes per time slot; changing it moves every id to another hash (the window's records are no longer found). */
  buckets?: number;
  /** Read records of versions before scopes (`<prefix>:done:<id>`). Not in a Redis Cluster: they never existed there. */
  legacy?: boolean;
  /** The layout format (LAYOUT_FORMAT, or 1 for a scope stored by an earlier version). */
  format?: number;
}

export function keysFor(prefix: string, scope: string, { buckets = DEFAULT_BUCKETS, legacy = true, format = LAYOUT_FORMAT }: KeysOptions = {}): Keys {
  const base = `${prefix}:${scope}:`;
  const [lease, fence] = format >= 2 ? [`${base}lease:`, ''] : [`${base}lock:`, `${base}fence:`];
  const prefixes = [`${base}r:`, `${base}done:`, lease, fence, legacy ? `${prefix}:done:` : ''] as const;
  // No cache here: a lease carries its id's keys from begin to complete (Lease.key). A cache
  // of recent ids kept each one alive past two scavenges, so every id's keys were promoted
  // to the old generation and left to the full collections (about 1 KB a message).
  const id = (raw: string): IdKey => {
    const digest = hash('sha256', raw, 'buffer');
    return { tag: `{${digest.readUInt32BE(0) % buckets}}`, part: idKeyPart(raw), field: sevenBit(digest.subarray(4, 18)) };
  };
  const keys: Keys = {
    scope,
    base,
    layout: `${base}layout`,
    buckets,
    format,
    prefixes,
    id,
    lock: (raw) => keyOf(lease, typeof raw === 'string' ? id(raw) : raw),
    fence: (raw) => keyOf(fence || lease, typeof raw === 'string' ? id(raw) : raw),
    withFormat: (f) => (f === format ? keys : keysFor(prefix, scope, { buckets, legacy, format: f })),
  };
  return keys;
}

/** Redis-atomic mode's outbox hash of a scope (store/redis-outbox.ts). */
export function outboxKey(prefix: string, scope: string): string {
  return `${prefix}:${scope}:outbox`;
}

const keyOf = (prefix: string, k: IdKey): string => `${prefix}${k.tag}:${k.part}`;

/**
 * The connection name (CLIENT SETNAME) of a replica's store clients: `dedup-pool layout set`
 * finds replicas of a scope still connected by it. Printable, no spaces (Redis's rule).
 */
export function replicaClientName(prefix: string, scope: string): string {
  return `dedup-pool:${prefix}:${scope}`.replace(/[^\x21-\x7e]/g, '_');
}
