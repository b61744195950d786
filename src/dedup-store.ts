/**
 * The dedup store: per-id leases (the Redlock algorithm over one or several
 * independent Redis masters), fencing tokens and completion records.
 *
 * Each operation is one Lua script per instance (see src/lua), so the whole
 * per-message protocol costs two round trips per instance: begin() and complete().
 * With N instances an operation counts when a majority agrees; a completion
 * record found on any instance counts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { StoreUnavailableError, errorMessage } from './errors.js';
import type { Keys } from './keys.js';
import type { TlsFiles } from './tls.js';

const SCRIPTS = {
  dedupBegin: { file: 'begin.lua', keys: 3 },
  dedupExtend: { file: 'extend.lua', keys: 1 },
  dedupComplete: { file: 'complete.lua', keys: 3 },
  dedupRelease: { file: 'release.lua', keys: 2 },
  dedupRaise: { file: 'raise.lua', keys: 1 },
} as const;

type Arg = string | number;
/** A Redis client with the dedup scripts defined on it. */
export interface ScriptedRedis extends Redis {
  dedupBegin(done: string, lock: string, fence: string, token: string, leaseMs: Arg, fenceTtlMs: Arg): Promise<[0, string] | [1, number] | [2, number]>;
  dedupExtend(lock: string, token: string, leaseMs: Arg): Promise<0 | 1>;
  dedupComplete(done: string, lock: string, fence: string, token: string, fence_: Arg, record: string, ttlMs: Arg): Promise<0 | 1>;
  dedupRelease(lock: string, fence: string, token: string, reset: '0' | '1'): Promise<0 | 1>;
  dedupRaise(fence: string, value: Arg, ttlMs: Arg): Promise<0 | 1>;
}

/** Register the dedup scripts on a client (EVALSHA, falling back to EVAL once per connection). */
export function defineScripts(client: Redis): ScriptedRedis {
  for (const [name, { file, keys }] of Object.entries(SCRIPTS)) {
    const lua = readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');
    client.defineCommand(name, { lua, numberOfKeys: keys });
  }
  return client as ScriptedRedis;
}

/**
 * Every call has a timeout and commands fail fast while disconnected (no offline
 * queue): a lock client must never hang. The client reconnects by itself.
 */
export function connectRedis(url: string, tls: TlsFiles = {}, commandTimeoutMs = 2000): ScriptedRedis {
  const client = new Redis(url, {
    // rediss:// turns TLS on by itself; these add a private CA or a client certificate.
    ...(url.startsWith('rediss:') && Object.keys(tls).length > 0 ? { tls: { ...tls } } : {}),
    commandTimeout: commandTimeoutMs,
    connectTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
  });
  // Errors surface on the commands that fail; the event only needs a listener so it is not thrown.
  client.on('error', () => {});
  return defineScripts(client);
}

export interface Lease {
  id: string;
  token: string;
  /** Fencing token: grows with every grant for this id; also the attempt number. */
  fence: number;
  /** The grant counter each instance returned (null where that instance did not grant). */
  fences: (number | null)[];
  /** Local clock time after which the lease must be assumed lost. */
  validUntil: number;
}

export type BeginResult =
  | { state: 'done'; record: string }
  | { state: 'acquired'; lease: Lease }
  | { state: 'locked'; retryInMs: number };

export interface DedupStoreOptions {
  keys: Keys;
  lockTtlMs: number;
  dedupTtlMs: number;
  /** Redlock's allowance for clock drift between instances, as a fraction of the lease. */
  driftFactor?: number;
}

export class DedupStore {
  readonly quorum: number;
  private readonly keys: Keys;
  private readonly lockTtlMs: number;
  private readonly dedupTtlMs: number;
  private readonly driftFactor: number;

  constructor(
    readonly clients: ScriptedRedis[],
    opts: DedupStoreOptions,
  ) {
    if (clients.length === 0) throw new Error('DedupStore needs at least one Redis client');
    this.quorum = Math.floor(clients.length / 2) + 1;
    this.keys = opts.keys;
    this.lockTtlMs = opts.lockTtlMs;
    this.dedupTtlMs = opts.dedupTtlMs;
    this.driftFactor = opts.driftFactor ?? 0.01;
  }

  /** Fast duplicate check, lease and authoritative check, all at once. */
  async begin(id: string): Promise<BeginResult> {
    const { done, lock, fence } = this.keyTriple(id);
    const token = randomBytes(16).toString('base64url');
    const started = Date.now();
    const votes = await this.onAll((c) => c.dedupBegin(done, lock, fence, token, this.lockTtlMs, this.dedupTtlMs));

    const fences = votes.map((v) => (v.ok && v.value[0] === 1 ? v.value[1] : null));
    const granted = fences.filter((f): f is number => f !== null);
    const record = votes.find((v) => v.ok && v.value[0] === 0);
    if (record?.ok) {
      if (granted.length > 0) void this.release({ id, token, fence: 0, fences, validUntil: 0 }).catch(() => {});
      return { state: 'done', record: String(record.value[1]) };
    }

    // Redlock: the lease is valid for its length minus the time taken to get it and the drift allowance.
    const validUntil = started + this.lockTtlMs - Math.round(this.lockTtlMs * this.driftFactor) - 2;
    if (granted.length >= this.quorum && validUntil > Date.now()) {
      const lease = { id, token, fence: Math.max(...granted), fences, validUntil };
      if (granted.some((f) => f !== lease.fence)) await this.raiseFences(lease);
      return { state: 'acquired', lease };
    }
    if (granted.length > 0) await this.release({ id, token, fence: 0, fences, validUntil: 0 }).catch(() => {});
    this.assertQuorumReachable(votes, `begin ${id}`);
    const pttls = votes.flatMap((v) => (v.ok && v.value[0] === 2 ? [v.value[1]] : []));
    return { state: 'locked', retryInMs: pttls.length > 0 ? Math.max(0, Math.min(...pttls)) : 0 };
  }

  /**
   * Instances disagree on the counter (one restarted empty, or missed grants while
   * down): lift the granting ones to the token so the next grant's token is higher.
   */
  private async raiseFences(lease: Lease): Promise<void> {
    const key = this.keys.fence(lease.id);
    await Promise.all(
      lease.fences.map(async (f, i) => {
        if (f === null || f === lease.fence) return;
        await this.clients[i]!.dedupRaise(key, lease.fence, this.dedupTtlMs);
        lease.fences[i] = lease.fence;
      }),
    ).catch(() => {
      // An instance that fails here is one the quorum can do without; its stale
      // counter is lifted on a later grant.
    });
  }

  /** Lengthen the lease; false when it is no longer held by a quorum (lost). */
  async extend(lease: Lease): Promise<boolean> {
    const started = Date.now();
    const lock = this.keys.lock(lease.id);
    const votes = await this.onAll((c) => c.dedupExtend(lock, lease.token, this.lockTtlMs));
    const ok = votes.filter((v) => v.ok && v.value === 1).length >= this.quorum;
    if (ok) lease.validUntil = started + this.lockTtlMs - Math.round(this.lockTtlMs * this.driftFactor) - 2;
    else this.assertQuorumReachable(votes, `extend ${lease.id}`);
    return ok;
  }

  /**
   * Write the completion record (with the dedup-window TTL) and end the lease.
   * Returns false when another lease was granted since ours: nothing is written.
   */
  async complete(lease: Lease, record: string): Promise<boolean> {
    const { done, lock, fence } = this.keyTriple(lease.id);
    const votes = await this.onAll((c, i) => {
      const mine = lease.fences[i];
      // An instance that did not grant our lease cannot vouch for it (-1 never matches).
      return c.dedupComplete(done, lock, fence, lease.token, mine ?? -1, record, this.dedupTtlMs);
    });
    const written = votes.filter((v) => v.ok && v.value === 1).length;
    if (written >= this.quorum) return true;
    this.assertQuorumReachable(votes, `complete ${lease.id}`);
    return false;
  }

  /** End a lease without completing. `reset` also clears the attempt count. */
  async release(lease: Lease, reset = false): Promise<void> {
    const lock = this.keys.lock(lease.id);
    const fence = this.keys.fence(lease.id);
    const votes = await this.onAll((c) => c.dedupRelease(lock, fence, lease.token, reset ? '1' : '0'));
    this.assertQuorumReachable(votes, `release ${lease.id}`);
  }

  /** A quorum of instances is connected. */
  async healthy(): Promise<boolean> {
    return this.clients.filter((c) => c.status === 'ready').length >= this.quorum;
  }

  /** Raw completion record (first found on any instance), for tools and tests. */
  async record(id: string): Promise<string | null> {
    const votes = await this.onAll((c) => c.get(this.keys.done(id)));
    for (const v of votes) if (v.ok && v.value !== null) return v.value;
    this.assertQuorumReachable(votes, `read ${id}`);
    return null;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.quit().catch(() => c.disconnect())));
  }

  private keyTriple(id: string): { done: string; lock: string; fence: string } {
    return { done: this.keys.done(id), lock: this.keys.lock(id), fence: this.keys.fence(id) };
  }

  private async onAll<T>(fn: (client: ScriptedRedis, index: number) => Promise<T>): Promise<Vote<T>[]> {
    const settled = await Promise.allSettled(this.clients.map((c, i) => fn(c, i)));
    return settled.map((s) => (s.status === 'fulfilled' ? { ok: true, value: s.value } : { ok: false, error: s.reason }));
  }

  private assertQuorumReachable(votes: Vote<unknown>[], what: string): void {
    const failed = votes.filter((v): v is { ok: false; error: unknown } => !v.ok);
    if (votes.length - failed.length < this.quorum) {
      throw new StoreUnavailableError(
        `${what}: ${failed.length} of ${votes.length} Redis instances failed (${failed.map((f) => errorMessage(f.error)).join('; ')})`,
        { cause: failed[0]?.error },
      );
    }
  }
}

type Vote<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Length of the body fingerprint at the head of every completion record. */
export const FINGERPRINT_CHARS = 12;

/** First 72 bits of the body's SHA-256: enough to tell "same id, other payload" apart. */
export function fingerprint(content: Buffer): string {
  return createHash('sha256').update(content).digest('base64url').slice(0, FINGERPRINT_CHARS);
}

/**
 * The completion record: the body's fingerprint, then `:` and the handler's result
 * as JSON when it is small. Kept short: there is one per id in the dedup window.
 */
export function encodeRecord(bodyFingerprint: string, resultJson: string | undefined, maxBytes: number): string {
  if (resultJson === undefined || Buffer.byteLength(resultJson) > maxBytes) return bodyFingerprint;
  return `${bodyFingerprint}:${resultJson}`;
}

export function decodeRecord(record: string): { fingerprint: string; result?: unknown } {
  const fp = record.slice(0, FINGERPRINT_CHARS);
  if (record.length <= FINGERPRINT_CHARS + 1) return { fingerprint: fp };
  try {
    return { fingerprint: fp, result: JSON.parse(record.slice(FINGERPRINT_CHARS + 1)) };
  } catch {
    return { fingerprint: fp };
  }
}
