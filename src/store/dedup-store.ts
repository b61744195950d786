/**
 * The dedup store: per-id leases, fencing tokens and completion records, over one
 * Redis, several independent masters (the Redlock algorithm), or a Redis Cluster.
 *
 * Every operation takes a batch of ids and costs one script call per instance
 * (see src/store/lua): a replica pays one begin and one complete per batch of
 * deliveries, and one extend per tick of its lease clock. With N instances an
 * operation counts when a majority agrees; a completion record found on any
 * instance counts. In a cluster each id lives on one master: a batch is split per
 * node, the parts run in parallel, and each id's answer is its node's.
 */
import { randomBytes } from 'node:crypto';
import { monotonicMs } from '../common/clock.js';
import { DedupPoolError, StoreUnavailableError, errorMessage } from '../common/errors.js';
import { EFFECT_COMMANDS, type RedisEffect } from './effects.js';
import { RecordHashExpiry } from './record-expiry.js';
import { ReplicaWait } from './replica-wait.js';
import type { IdKey, Keys } from './keys.js';
import { beginVotes, type ScriptedCluster, type ScriptedRedis } from './redis-clients.js';
import type { BeginResult, IdState, Lease, ReleaseMode } from './lease.js';
import { Topology, type Vote } from './topology.js';

export { connectCluster, connectRedis, defineScripts, type ScriptedCluster, type ScriptedRedis } from './redis-clients.js';
export { FINGERPRINT_CHARS, decodeRecord, encodeRecord, fingerprint } from './records.js';
export type { BeginResult, IdState, Lease, ReleaseMode } from './lease.js';

type Arg = string | number;
type BeginVote = Vote<[0, string] | [1, number] | [2, number, number]>; // one instance's answer for one id (beginVotes)

export interface DedupStoreOptions {
  keys: Keys;
  lockTtlMs: number;
  dedupTtlMs: number;
  /** Redlock's allowance for clock drift between instances, as a fraction of the lease. */
  driftFactor?: number;
  /** Before a complete call returns, wait until this many replicas have its writes (WAIT). */
  waitReplicas?: number;
  /** Redis Cluster: how long a call is retried through redirections and failovers. */
  clusterRetryMs?: number;
}

/**
 * Slots per dedup window: a record lives at least the window, at most 1 + 1/SLOTS of it,
 * and a lookup reads SLOTS + 1 hashes. Layouts stored with 4 (by earlier versions) keep it.
 */
export const SLOTS_PER_WINDOW = 2;
/** Replica clocks may run behind Redis's by this much when deciding that earlier versions' records are gone. */
const COMPAT_SLACK_MS = 60_000;

export class DedupStore {
  readonly quorum: number;
  private readonly topology: Topology;
  private keys: Keys;
  private readonly lockTtlMs: number;
  private readonly dedupTtlMs: number;
  private readonly driftFactor: number;
  /** --redis-wait-replicas above 0: complete calls WAIT for the replicas. */
  private readonly replicaWait?: ReplicaWait;
  /** Time slot length of the records, ms (the stored layout's). */
  private slotMs!: number;
  /** Until when (Redis's clock, ms) records of earlier versions may exist and are read. */
  private compatUntil = Number.POSITIVE_INFINITY;
  /** The arguments every script gets first (records.lib.lua), with earlier versions' records read or not. */
  private sharedArgs!: { compat: Arg[]; lean: Arg[] };
  private readonly expiry = new RecordHashExpiry(() => this.slotMs);
  /** Lease tokens: a random part per store, then a counter; unique without a syscall each. */
  private readonly tokenPrefix = randomBytes(9).toString('base64url');
  private tokens = 0;

  constructor(clients: ScriptedRedis[] | ScriptedCluster, opts: DedupStoreOptions) {
    this.topology = new Topology(clients, opts.keys, opts.clusterRetryMs ?? 15_000);
    this.quorum = this.topology.quorum;
    this.keys = opts.keys;
    this.lockTtlMs = opts.lockTtlMs;
    this.dedupTtlMs = opts.dedupTtlMs;
    this.driftFactor = opts.driftFactor ?? 0.01;
    if (opts.waitReplicas) this.replicaWait = new ReplicaWait(opts.waitReplicas);
    this.useLayout({ slotMs: Math.ceil(opts.dedupTtlMs / SLOTS_PER_WINDOW) });
    // A connection made again may be to a Redis that restarted empty: expiries are set anew.
    for (const c of this.topology.clients) c.on('ready', () => this.expiry.forgetAll());
  }

  /**
   * The stored record layout (src/store/layout.ts): its slot length, until when records
   * written by earlier versions may exist (read until then; always, until this is called),
   * and its format (a scope stored by an earlier version keeps that version's lease keys).
   */
  useLayout({ slotMs, compatUntil, format }: { slotMs: number; compatUntil?: number; format?: number }): void {
    this.slotMs = slotMs;
    if (compatUntil !== undefined) this.compatUntil = compatUntil;
    if (format !== undefined) this.keys = this.keys.withFormat(format);
    const base = [...this.keys.prefixes, this.dedupTtlMs, slotMs];
    this.sharedArgs = { compat: [...base, '1'], lean: [...base, '0'] };
  }

  private get shared(): Arg[] {
    return Date.now() < this.compatUntil + COMPAT_SLACK_MS ? this.sharedArgs.compat : this.sharedArgs.lean;
  }

  /** Complete calls whose records did not reach --redis-wait-replicas replicas in time. */
  get waitShortfalls(): number {
    return this.replicaWait?.shortfalls ?? 0;
  }

  /** Client calls made (one per instance, or per node, per call): what the bench reports as round trips. */
  get calls(): number {
    return this.topology.calls;
  }

  /** One client per independent instance; in a cluster, the cluster client. */
  get clients(): readonly (ScriptedRedis | ScriptedCluster)[] {
    return this.topology.clients;
  }

  get mode(): 'single' | 'quorum' | 'cluster' {
    return this.topology.mode;
  }

  /**
   * For each id, at once: the completion check, and if not complete, a lease
   * (which counts an attempt). One script call per instance (or node) for the whole
   * batch. An Error in the result means that id could not be decided (no quorum).
   */
  async beginMany(ids: string[]): Promise<(BeginResult | Error)[]> {
    const keys = ids.map((id) => this.keys.id(id));
    const tokens = ids.map(() => `${this.tokenPrefix}.${(this.tokens++).toString(36)}`);
    const started = monotonicMs();
    const votes = await this.topology.run(keys, (c, route, idx) => {
      // The ids in one argument (records.lib.lua each_id): a client works per argument.
      let packed = '';
      for (const j of idx) packed += `${keys[j]!.field}${keys[j]!.tag} ${keys[j]!.part} ${tokens[j]!} `;
      return c.dedupBegin(route, ...this.shared, this.lockTtlMs, packed).then(beginVotes);
    });
    const validUntil = this.validFrom(started);
    const results: (BeginResult | Error)[] = [];
    const what = `begin ${ids.length} id(s)`;
    let failed = false;
    for (let i = 0; i < ids.length; i++) {
      const v = votes[i]!; // one vote (one instance or node, the common case): decided at once, no promise per id
      const r = v.length === 1 ? this.decideOne(ids[i]!, keys[i]!, tokens[i]!, v, validUntil, what) : await this.decideBegin(ids[i]!, keys[i]!, tokens[i]!, v, validUntil, what);
      if (r instanceof Error) failed = true;
      results.push(r);
    }
    if (failed) this.forgetUnanswered(ids, keys, tokens, votes, results);
    return results;
  }

  /**
   * A begin that failed for want of an answer (a timeout) may still run on the instance
   * later and grant a lease nobody holds: its redelivery would wait out the lease and pay
   * an attempt. The release goes on the same connection, after it, and undoes exactly
   * that grant (a lease that was granted all the same is kept, of course). Not awaited:
   * where the answer did not come, the release's may not either (a cluster retries for 15 s).
   * With several masters, decideBegin has already released the grants it saw; this one
   * repeats that for them, harmlessly (the lock no longer holds our token).
   * A release that fails (the connection dropped: the begin may have run before it did)
   * is tried once more when the store is back, while the grant can still be alive.
   */
  private forgetUnanswered(ids: string[], keys: IdKey[], tokens: string[], votes: Vote<unknown>[][], results: (BeginResult | Error)[]): void {
    const lost = ids.flatMap((id, i) =>
      results[i] instanceof Error && votes[i]!.some((v) => !v.ok) ? [{ lease: { id, key: keys[i]!, token: tokens[i]!, fence: 0, fences: [], validUntil: 0 }, mode: 'uncount' as const }] : [],
    );
    if (lost.length === 0) return;
    const retryWhenBack = async () => (await this.topology.healthyWithin(this.lockTtlMs)) && this.releaseMany(lost);
    void this.releaseMany(lost).catch(retryWhenBack).catch(() => {});
  }

  /** One id's begin (a batch of one). */
  async begin(id: string): Promise<BeginResult> {
    return unwrap((await this.beginMany([id]))[0]!);
  }

  /** One instance's answer, or one node's: no votes to weigh. */
  private decideOne(id: string, key: IdKey, token: string, votes: BeginVote[], validUntil: number, what: string): BeginResult | Error {
    const v = votes[0]!;
    if (!v.ok) return this.topology.failure(votes, what)!;
    const [state, value] = v.value;
    if (state === 0) return { state: 'done', record: String(value) };
    if (state === 1) return { state: 'acquired', lease: { id, token, fence: value, fences: [value], validUntil, key } };
    return { state: 'locked', retryInMs: Math.max(0, value) };
  }

  /** A quorum's answers for one id: a lease only where enough instances granted it. */
  private async decideBegin(id: string, key: IdKey, token: string, votes: BeginVote[], validUntil: number, what: string): Promise<BeginResult | Error> {
    const failure = this.topology.failure(votes, what);
    const fences = votes.map((v) => (v.ok && v.value[0] === 1 ? v.value[1] : null));
    const granted = fences.filter((f): f is number => f !== null);
    const partial = { id, key, token, fence: 0, fences, validUntil: 0 };
    const record = votes.find((v) => v.ok && v.value[0] === 0);
    if (record?.ok) {
      if (granted.length > 0) void this.release(partial, 'uncount').catch(() => {});
      return { state: 'done', record: String(record.value[1]) };
    }
    if (granted.length >= this.quorum && validUntil > monotonicMs()) {
      // An instance that refused holds another grant: ours goes above its token, even where the
      // granting instances never counted that grant (one restarted empty: Redlock's hole).
      const held = votes.flatMap((v) => (v.ok && v.value[0] === 2 ? [v.value[2] + 1] : []));
      const lease = { id, key, token, fence: Math.max(...granted, ...held), fences, validUntil };
      // The token must be at least every later grant's predecessor: a quorum of counters at it or above.
      if (granted.some((f) => f !== lease.fence) && (await this.raiseFences(lease)) < this.quorum) {
        await this.release(partial, 'uncount').catch(() => {});
        return new StoreUnavailableError(`${what}: the grant counters of a quorum could not be lifted to token ${lease.fence}`);
      }
      return { state: 'acquired', lease };
    }
    if (granted.length > 0) await this.release(partial, 'uncount').catch(() => {});
    if (failure) return failure;
    const pttls = votes.flatMap((v) => (v.ok && v.value[0] === 2 ? [v.value[1]] : []));
    return { state: 'locked', retryInMs: pttls.length > 0 ? Math.max(0, Math.min(...pttls)) : 0 };
  }

  /**
   * Write each completion record (for the dedup window) and end its lease, in one
   * script call per instance (or node). true: recorded; false: another lease was
   * granted since ours, nothing written; an Error: no quorum answered. `repeated`: these
   * items were in a call that got no answer, which may still have run (our record, found
   * there, then counts as written).
   */
  async completeMany(items: { lease: Lease; record: string }[], repeated = false): Promise<(boolean | Error)[]> {
    const keys = items.map(({ lease }) => this.keyOf(lease));
    const slot = this.expiry.slot();
    const votes = await this.topology.run(keys, async (c, route, idx, i, node, cutShort) => {
      const expired = this.expiry.expired(node, slot);
      let packed = '';
      const records: string[] = [];
      for (const j of idx) {
        const { lease, record } = items[j]!;
        const k = keys[j]!;
        // An instance that did not grant a lease cannot vouch for it (-1 never matches).
        packed += `${k.field}${k.tag} ${k.part} ${lease.token} ${lease.fences[i] ?? -1} ${expired.has(k.tag) ? '1' : '0'} `;
        records.push(record);
      }
      const args: Arg[] = [...this.shared, cutShort || repeated ? '1' : '0', slot, packed, ...records];
      const out = this.replicaWait ? await this.replicaWait.complete(c, route, args, node) : await c.dedupComplete(route, ...args);
      // Written in the slot named (1): that hash's expiry is set.
      for (let n = 0; n < out.length; n++) if (out[n] === 1) expired.add(keys[idx[n]!]!.tag);
      return out;
    });
    return votes.map((v) => {
      const written = v.filter((x) => x.ok && x.value > 0).length;
      if (written >= this.quorum) return true;
      return this.topology.failure(v, `complete ${items.length} id(s)`) ?? false;
    });
  }

  /** One id's completion (a batch of one). */
  async complete(lease: Lease, record: string): Promise<boolean> {
    return unwrap((await this.completeMany([{ lease, record }]))[0]!);
  }

  /**
   * Redis-atomic mode: apply the handler's effects, write the completion record and
   * end the lease in one script, only while the lease is current. Needs a single
   * Redis instance: effects cannot be applied exactly once across a quorum, and in a
   * cluster their keys may live on other nodes than the id's.
   */
  async completeWithEffects(lease: Lease, record: string, effects: RedisEffect[]): Promise<boolean> {
    const client = this.topology.single;
    if (!client) {
      throw new DedupPoolError('BAD_EFFECT', `Redis effects need a single --redis instance (this store is ${this.mode === 'cluster' ? 'a Redis Cluster' : 'a quorum of masters'}: effects cannot be applied exactly once there)`);
    }
    const k = this.keyOf(lease);
    const keys = [this.keys.lock(k), this.keys.fence(k), ...effects.map((e) => e.key)];
    const args = effects.flatMap((e) => [e.command, EFFECT_COMMANDS[e.command]!, e.args.length, ...e.args]);
    this.topology.calls += 1;
    try {
      const ok = await client.dedupCompleteEffects(keys.length, ...keys, ...this.shared, k.tag, k.part, k.field, lease.token, lease.fences[0] ?? -1, record, effects.length, ...args);
      return ok === 1;
    } catch (err) {
      if (/effect \d+:/.test(errorMessage(err))) throw new DedupPoolError('BAD_EFFECT', errorMessage(err));
      throw new StoreUnavailableError(`complete ${lease.id} with effects: ${errorMessage(err)}`, { cause: err });
    }
  }

  /**
   * Lengthen every given lease in one call per instance (or node). true: extended
   * (its validUntil moves on); false: no longer held by a quorum (lost). Throws
   * StoreUnavailableError when no quorum answered for some lease: nothing is known then.
   */
  async extendMany(leases: Lease[]): Promise<boolean[]> {
    const started = monotonicMs();
    const keys = leases.map((l) => this.keyOf(l));
    const votes = await this.topology.run(keys, (c, route, idx) => {
      const args: Arg[] = [...this.shared, this.lockTtlMs];
      for (const j of idx) args.push(keys[j]!.tag, keys[j]!.part, leases[j]!.token);
      return c.dedupExtend(route, ...args);
    });
    this.assertAnswered(votes, `extend ${leases.length} lease(s)`);
    const validUntil = this.validFrom(started);
    return leases.map((lease, j) => {
      const ok = votes[j]!.filter((v) => v.ok && v.value === 1).length >= this.quorum;
      if (ok) lease.validUntil = validUntil;
      return ok;
    });
  }

  /** Lengthen one lease; false when it is lost. */
  async extend(lease: Lease): Promise<boolean> {
    return (await this.extendMany([lease]))[0]!;
  }

  /** End leases without completing, in one call per instance or node (see ReleaseMode). */
  async releaseMany(items: { lease: Lease; mode: ReleaseMode }[]): Promise<void> {
    const keys = items.map(({ lease }) => this.keyOf(lease));
    const votes = await this.topology.run(keys, (c, route, idx, i) => {
      const args: Arg[] = [...this.shared];
      // '' when this instance's counter is unknown (its answer was lost or failed).
      for (const j of idx) args.push(keys[j]!.tag, keys[j]!.part, items[j]!.lease.token, items[j]!.mode, items[j]!.lease.fences[i] ?? '');
      return c.dedupRelease(route, ...args);
    });
    this.assertAnswered(votes, `release ${items.length} lease(s)`);
  }

  /** End one lease without completing. */
  release(lease: Lease, mode: ReleaseMode = 'keep'): Promise<void> {
    return this.releaseMany([{ lease, mode }]);
  }

  /** What the store knows about an id: its record, its lease, its attempts (every instance asked; the first record found wins). */
  async inspect(id: string): Promise<IdState> {
    const k = this.keys.id(id);
    const [votes] = await this.topology.run([k], (c, route) => c.dedupInspect(route, ...this.shared, k.tag, k.part, k.field).then((r) => [r]));
    this.assertAnswered([votes!], `inspect ${id}`);
    const answers = votes!.flatMap((v) => (v.ok ? [v.value] : []));
    const state: IdState = {};
    const withRecord = answers.find((a) => a[0] !== null);
    if (withRecord) Object.assign(state, { record: withRecord[0]!, ...(withRecord[1] >= 0 && { recordTtlMs: withRecord[1] }) });
    const holder = answers.find((a) => a[2] !== null);
    if (holder) state.lease = { token: holder[2]!, ttlMs: holder[3] };
    const fences = answers.flatMap((a) => (a[4] === null ? [] : [Number(a[4])]));
    if (fences.length > 0) state.fence = Math.max(...fences);
    return state;
  }

  /**
   * Remove an id's completion record (and attempt count) so its next delivery runs
   * again. 'forgotten', 'absent' (no record was found), or 'leased': refused, a
   * replica holds its lease now.
   */
  async forget(id: string): Promise<'forgotten' | 'absent' | 'leased'> {
    const k = this.keys.id(id);
    const [votes] = await this.topology.run([k], (c, route) => c.dedupForget(route, ...this.shared, k.tag, k.part, k.field).then((r) => [r]));
    this.assertAnswered([votes!], `forget ${id}`);
    const answers = votes!.flatMap((v) => (v.ok ? [v.value] : []));
    if (answers.includes(-1)) return 'leased';
    return answers.includes(1) ? 'forgotten' : 'absent';
  }

  /**
   * Instances disagree on the counter (one restarted empty, or missed grants while
   * down): lift the granting ones to the token so the next grant's token is higher.
   * Returns how many instances hold the token now; the caller needs a quorum of them.
   */
  private async raiseFences(lease: Lease): Promise<number> {
    const key = this.keys.fence(this.keyOf(lease));
    const holds = await Promise.all(
      lease.fences.map(async (f, i) => {
        if (f === null || f === lease.fence) return f !== null;
        this.topology.calls += 1;
        try {
          await this.topology.clients[i]!.dedupRaise(key, lease.fence, this.dedupTtlMs);
        } catch {
          return false;
        }
        lease.fences[i] = lease.fence;
        return true;
      }),
    );
    return holds.filter(Boolean).length;
  }

  /** A quorum of instances (or the cluster) is connected. */
  async healthy(): Promise<boolean> {
    return this.topology.healthy();
  }

  async close(): Promise<void> {
    await this.topology.close();
  }

  /** The lease's id keys, named at begin (or now, for a lease made elsewhere; a frozen one is not written to). */
  private keyOf(lease: Lease): IdKey {
    if (lease.key) return lease.key;
    const key = this.keys.id(lease.id);
    if (!Object.isFrozen(lease)) lease.key = key;
    return key;
  }

  /** Redlock: a lease is valid for its length minus the time taken to get it and the drift allowance. */
  private validFrom(started: number): number {
    return started + this.lockTtlMs - Math.round(this.lockTtlMs * this.driftFactor) - 2;
  }

  private assertAnswered(votes: Vote<unknown>[][], what: string): void {
    for (const v of votes) {
      const failure = this.topology.failure(v, what);
      if (failure) throw failure;
    }
  }
}

function unwrap<T>(result: T | Error): T {
  if (result instanceof Error) throw result;
  return result;
}
