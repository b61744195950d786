/**
 * The dedup store: per-id leases (the Redlock algorithm over one or several
 * independent Redis masters), fencing tokens and completion records.
 *
 * Every operation takes a batch of ids and costs one script call per instance
 * (see src/lua): a replica pays one begin and one complete per batch of
 * deliveries, and one extend per tick of its lease clock. With N instances an
 * operation counts when a majority agrees; a completion record found on any
 * instance counts.
 */
import { hash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { DedupPoolError, StoreUnavailableError, errorMessage } from './errors.js';
import { EFFECT_COMMANDS, type RedisEffect } from './effects.js';
import { idKeyPart, type Keys } from './keys.js';
import type { TlsFiles } from './tls.js';

/** `keys: undefined`: the script takes any number of keys, given first in the call. */
const SCRIPTS = {
  dedupBegin: { file: 'begin.lua', keys: undefined },
  dedupExtend: { file: 'extend.lua', keys: undefined },
  dedupComplete: { file: 'complete.lua', keys: undefined },
  dedupRelease: { file: 'release.lua', keys: undefined },
  dedupRaise: { file: 'raise.lua', keys: 1 },
  dedupCompleteEffects: { file: 'complete-effects.lua', keys: undefined },
} as const;

type Arg = string | number;
/** A Redis client with the dedup scripts defined on it. */
export interface ScriptedRedis extends Redis {
  /** 0 keys; done, lock and counter key prefixes, leaseMs, fenceTtlMs, then key part and token per id. */
  dedupBegin(numKeys: 0, ...args: Arg[]): Promise<([0, string] | [1, number] | [2, number])[]>;
  /** 0 keys; lock key prefix, leaseMs, then key part and token per lease. */
  dedupExtend(numKeys: 0, ...args: Arg[]): Promise<(0 | 1)[]>;
  /** 0 keys; the three key prefixes, ttlMs, then key part, token, fence and record per id. */
  dedupComplete(numKeys: 0, ...args: Arg[]): Promise<(0 | 1)[]>;
  /** 0 keys; lock and counter key prefixes, then key part, token, mode and fence per lease. */
  dedupRelease(numKeys: 0, ...args: Arg[]): Promise<(0 | 1)[]>;
  dedupRaise(fence: string, value: Arg, ttlMs: Arg): Promise<0 | 1>;
  /** numKeys, done, lock, fence, effect keys..., ttlMs, token, fence value, record, n, then per effect: command, type, argc, args. */
  dedupCompleteEffects(numKeys: number, ...args: Arg[]): Promise<0 | 1>;
}

/** Register the dedup scripts on a client (EVALSHA, falling back to EVAL once per connection). */
export function defineScripts(client: Redis): ScriptedRedis {
  for (const [name, { file, keys }] of Object.entries(SCRIPTS)) {
    const lua = readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');
    client.defineCommand(name, keys === undefined ? { lua } : { lua, numberOfKeys: keys });
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
    // The pipeline batches calls itself; auto-pipelining would hold each call until the
    // previous pipeline's reply is in (one in flight per connection), adding a round trip.
    enableAutoPipelining: false,
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

/**
 * What ending a lease without a completion does to the id's attempt count:
 * `keep` it (the handler ran), `reset` it (dead-lettered: a replay starts from 1),
 * or `uncount` the grant (the handler never started).
 */
export type ReleaseMode = 'keep' | 'reset' | 'uncount';

export interface DedupStoreOptions {
  keys: Keys;
  lockTtlMs: number;
  dedupTtlMs: number;
  /** Redlock's allowance for clock drift between instances, as a fraction of the lease. */
  driftFactor?: number;
}

export class DedupStore {
  readonly quorum: number;
  /** Client calls made (one per instance per call): what the bench reports as round trips. */
  calls = 0;
  private readonly keys: Keys;
  /** Key prefixes the batch scripts build key names from. */
  private readonly p: Keys['prefixes'];
  private readonly lockTtlMs: number;
  private readonly dedupTtlMs: number;
  private readonly driftFactor: number;
  /** Lease tokens: a random part per store, then a counter; unique without a syscall each. */
  private readonly tokenPrefix = randomBytes(9).toString('base64url');
  private tokens = 0;

  constructor(
    readonly clients: ScriptedRedis[],
    opts: DedupStoreOptions,
  ) {
    if (clients.length === 0) throw new Error('DedupStore needs at least one Redis client');
    this.quorum = Math.floor(clients.length / 2) + 1;
    this.keys = opts.keys;
    this.p = opts.keys.prefixes;
    this.lockTtlMs = opts.lockTtlMs;
    this.dedupTtlMs = opts.dedupTtlMs;
    this.driftFactor = opts.driftFactor ?? 0.01;
  }

  /**
   * For each id, at once: the completion check, and if not complete, a lease
   * (which counts an attempt). One script call per instance for the whole batch.
   * An Error in the result means that id could not be decided (no quorum).
   */
  async beginMany(ids: string[]): Promise<(BeginResult | Error)[]> {
    const tokens: string[] = [];
    const args: Arg[] = [this.p.done, this.p.lock, this.p.fence, this.lockTtlMs, this.dedupTtlMs];
    for (const id of ids) {
      const token = `${this.tokenPrefix}.${(this.tokens++).toString(36)}`;
      tokens.push(token);
      args.push(idKeyPart(id), token);
    }
    const started = Date.now();
    const votes = await this.onAll((c) => c.dedupBegin(0, ...args));
    const validUntil = this.validFrom(started);
    const failure = this.quorumFailure(votes, `begin ${ids.length} id(s)`);
    const results: (BeginResult | Error)[] = [];
    for (let i = 0; i < ids.length; i++) {
      results.push(await this.decideBegin(ids[i]!, tokens[i]!, votes.map((v) => (v.ok ? { ok: true as const, value: v.value[i]! } : v)), validUntil, failure));
    }
    return results;
  }

  /** One id's begin (a batch of one). */
  async begin(id: string): Promise<BeginResult> {
    return unwrap((await this.beginMany([id]))[0]!);
  }

  private async decideBegin(id: string, token: string, votes: Vote<[0, string] | [1, number] | [2, number]>[], validUntil: number, failure: Error | undefined): Promise<BeginResult | Error> {
    // One instance: no votes to weigh (the common case, kept allocation-free).
    if (votes.length === 1) {
      const v = votes[0]!;
      if (!v.ok) return failure!;
      const [state, value] = v.value;
      if (state === 0) return { state: 'done', record: String(value) };
      if (state === 1) return { state: 'acquired', lease: { id, token, fence: value, fences: [value], validUntil } };
      return { state: 'locked', retryInMs: Math.max(0, value) };
    }
    const fences = votes.map((v) => (v.ok && v.value[0] === 1 ? v.value[1] : null));
    const granted = fences.filter((f): f is number => f !== null);
    const partial = { id, token, fence: 0, fences, validUntil: 0 };
    const record = votes.find((v) => v.ok && v.value[0] === 0);
    if (record?.ok) {
      if (granted.length > 0) void this.release(partial, 'uncount').catch(() => {});
      return { state: 'done', record: String(record.value[1]) };
    }
    if (granted.length >= this.quorum && validUntil > Date.now()) {
      const lease = { id, token, fence: Math.max(...granted), fences, validUntil };
      if (granted.some((f) => f !== lease.fence)) await this.raiseFences(lease);
      return { state: 'acquired', lease };
    }
    if (granted.length > 0) await this.release(partial, 'uncount').catch(() => {});
    if (failure) return failure;
    const pttls = votes.flatMap((v) => (v.ok && v.value[0] === 2 ? [v.value[1]] : []));
    return { state: 'locked', retryInMs: pttls.length > 0 ? Math.max(0, Math.min(...pttls)) : 0 };
  }

  /**
   * Write each completion record (with the dedup-window TTL) and end its lease, in
   * one script call per instance. true: recorded; false: another lease was granted
   * since ours, nothing written; an Error: no quorum answered.
   */
  async completeMany(items: { lease: Lease; record: string }[]): Promise<(boolean | Error)[]> {
    const parts = items.map(({ lease }) => idKeyPart(lease.id));
    const votes = await this.onAll((c, i) => {
      const args: Arg[] = [this.p.done, this.p.lock, this.p.fence, this.dedupTtlMs];
      // An instance that did not grant a lease cannot vouch for it (-1 never matches).
      items.forEach(({ lease, record }, j) => args.push(parts[j]!, lease.token, lease.fences[i] ?? -1, record));
      return c.dedupComplete(0, ...args);
    });
    const failure = this.quorumFailure(votes, `complete ${items.length} id(s)`);
    return items.map((_, j) => {
      const written = votes.filter((v) => v.ok && v.value[j] === 1).length;
      if (written >= this.quorum) return true;
      return failure ?? false;
    });
  }

  /** One id's completion (a batch of one). */
  async complete(lease: Lease, record: string): Promise<boolean> {
    return unwrap((await this.completeMany([{ lease, record }]))[0]!);
  }

  /**
   * Redis-atomic mode: apply the handler's effects, write the completion record and
   * end the lease in one script, only while the lease is current. Needs a single
   * Redis instance: effects cannot be applied exactly once across a quorum.
   */
  async completeWithEffects(lease: Lease, record: string, effects: RedisEffect[]): Promise<boolean> {
    if (this.clients.length !== 1) {
      throw new DedupPoolError('BAD_EFFECT', 'Redis effects need a single --redis instance (they cannot be applied exactly once across a quorum)');
    }
    const keys = [this.keys.done(lease.id), this.keys.lock(lease.id), this.keys.fence(lease.id), ...effects.map((e) => e.key)];
    const args = effects.flatMap((e) => [e.command, EFFECT_COMMANDS[e.command]!, e.args.length, ...e.args]);
    const [client] = this.clients;
    this.calls += 1;
    try {
      const ok = await client!.dedupCompleteEffects(keys.length, ...keys, this.dedupTtlMs, lease.token, lease.fences[0] ?? -1, record, effects.length, ...args);
      return ok === 1;
    } catch (err) {
      if (/effect \d+:/.test(errorMessage(err))) throw new DedupPoolError('BAD_EFFECT', errorMessage(err));
      throw new StoreUnavailableError(`complete ${lease.id} with effects: ${errorMessage(err)}`, { cause: err });
    }
  }

  /**
   * Lengthen every given lease in one call per instance. true: extended (its
   * validUntil moves on); false: no longer held by a quorum (lost). Throws
   * StoreUnavailableError when no quorum answered: nothing is known then.
   */
  async extendMany(leases: Lease[]): Promise<boolean[]> {
    const started = Date.now();
    const args: Arg[] = [this.p.lock, this.lockTtlMs];
    for (const l of leases) args.push(idKeyPart(l.id), l.token);
    const votes = await this.onAll((c) => c.dedupExtend(0, ...args));
    this.assertQuorumReachable(votes, `extend ${leases.length} lease(s)`);
    const validUntil = this.validFrom(started);
    return leases.map((lease, j) => {
      const ok = votes.filter((v) => v.ok && v.value[j] === 1).length >= this.quorum;
      if (ok) lease.validUntil = validUntil;
      return ok;
    });
  }

  /** Lengthen one lease; false when it is lost. */
  async extend(lease: Lease): Promise<boolean> {
    return (await this.extendMany([lease]))[0]!;
  }

  /** End leases without completing, in one call per instance (see ReleaseMode). */
  async releaseMany(items: { lease: Lease; mode: ReleaseMode }[]): Promise<void> {
    const parts = items.map(({ lease }) => idKeyPart(lease.id));
    const votes = await this.onAll((c, i) =>
      c.dedupRelease(0, this.p.lock, this.p.fence, ...items.flatMap(({ lease, mode }, j) => [parts[j]!, lease.token, mode, lease.fences[i] ?? -1])),
    );
    this.assertQuorumReachable(votes, `release ${items.length} lease(s)`);
  }

  /** End one lease without completing. */
  release(lease: Lease, mode: ReleaseMode = 'keep'): Promise<void> {
    return this.releaseMany([{ lease, mode }]);
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
        this.calls += 1;
        await this.clients[i]!.dedupRaise(key, lease.fence, this.dedupTtlMs);
        lease.fences[i] = lease.fence;
      }),
    ).catch(() => {
      // An instance that fails here is one the quorum can do without; its stale
      // counter is lifted on a later grant.
    });
  }

  /** A quorum of instances is connected. */
  async healthy(): Promise<boolean> {
    return this.clients.filter((c) => c.status === 'ready').length >= this.quorum;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.quit().catch(() => c.disconnect())));
  }

  /** Redlock: a lease is valid for its length minus the time taken to get it and the drift allowance. */
  private validFrom(started: number): number {
    return started + this.lockTtlMs - Math.round(this.lockTtlMs * this.driftFactor) - 2;
  }

  private async onAll<T>(fn: (client: ScriptedRedis, index: number) => Promise<T>): Promise<Vote<T>[]> {
    this.calls += this.clients.length;
    if (this.clients.length === 1) {
      try {
        return [{ ok: true, value: await fn(this.clients[0]!, 0) }];
      } catch (error) {
        return [{ ok: false, error }];
      }
    }
    const settled = await Promise.allSettled(this.clients.map((c, i) => fn(c, i)));
    return settled.map((s) => (s.status === 'fulfilled' ? { ok: true, value: s.value } : { ok: false, error: s.reason }));
  }

  /** The error to report when fewer than a quorum of instances answered, else undefined. */
  private quorumFailure(votes: Vote<unknown>[], what: string): StoreUnavailableError | undefined {
    const failed = votes.filter((v): v is { ok: false; error: unknown } => !v.ok);
    if (votes.length - failed.length >= this.quorum) return undefined;
    const which = this.clients.length === 1 ? 'Redis failed' : `${failed.length} of ${votes.length} Redis instances failed`;
    return new StoreUnavailableError(`${what}: ${which} (${failed.map((f) => errorMessage(f.error)).join('; ')})`, { cause: failed[0]?.error });
  }

  private assertQuorumReachable(votes: Vote<unknown>[], what: string): void {
    const failure = this.quorumFailure(votes, what);
    if (failure) throw failure;
  }
}

function unwrap<T>(result: T | Error): T {
  if (result instanceof Error) throw result;
  return result;
}

type Vote<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Length of the body fingerprint at the head of every completion record. */
export const FINGERPRINT_CHARS = 12;

/** First 72 bits of the body's SHA-256: enough to tell "same id, other payload" apart. */
export function fingerprint(content: Buffer): string {
  return hash('sha256', content, 'base64url').slice(0, FINGERPRINT_CHARS);
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
