/**
 * Where the dedup store's calls go, and what came back, per id and instance.
 *
 *   single    one Redis: one call, one answer per id
 *   quorum    independent masters: the same call to each; an id's answer counts
 *             when a majority agrees (the store weighs the votes)
 *   cluster   a Redis Cluster: the ids of a call are split by the master that
 *             serves their hash slot, the parts run in parallel, and each id has
 *             its node's one answer. Redirections, resharding and failovers are
 *             retried (the parts that failed are split again on fresh slots)
 *             until the retry window ends.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import { StoreUnavailableError, errorMessage } from '../common/errors.js';
import type { IdKey, Keys } from './keys.js';
import type { ScriptedCluster, ScriptedRedis, Scripts } from './redis-clients.js';

export type Vote<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Call one script for the ids at `idx` on `client`; `route` names a key on the right
 * node; `instance` is the quorum index; `node` names the instance or cluster node;
 * `cutShort` is set when some of these ids were in a script that a moving slot stopped
 * part-way (a Redis Cluster keeps the writes such a script made before it stopped).
 */
type Call<T> = (client: Scripts & (ScriptedRedis | ScriptedCluster), route: string, idx: number[], instance: number, node: string, cutShort: boolean) => Promise<T[]>;

/** A script stopped part-way: it reached a key of a slot its node no longer serves. */
const CUT_SHORT = /non local key/i;

/** Errors a cluster gives while it moves slots or elects a new master: worth another try. */
const TRANSIENT = /CLUSTERDOWN|TRYAGAIN|MOVED|ASK|non local key|not served|Too many Cluster redirections|Connection is closed|Stream isn't writeable|timed? ?out|ECONNREFUSED|ECONNRESET|EPIPE|LOADING|MASTERDOWN|READONLY|Failed to refresh slots cache|None of startup nodes is available/i;

export class Topology {
  readonly mode: 'single' | 'quorum' | 'cluster';
  readonly quorum: number;
  readonly clients: readonly (ScriptedRedis | ScriptedCluster)[];
  calls = 0;
  private readonly cluster?: ScriptedCluster;
  private closed = false;

  constructor(
    clients: ScriptedRedis[] | ScriptedCluster,
    private readonly keys: Keys,
    private readonly retryMs: number,
  ) {
    if (clients instanceof Cluster) {
      this.cluster = clients;
      this.clients = [clients];
      this.mode = 'cluster';
      this.quorum = 1;
    } else {
      if (clients.length === 0) throw new Error('DedupStore needs at least one Redis client');
      this.clients = clients;
      this.mode = clients.length === 1 ? 'single' : 'quorum';
      this.quorum = Math.floor(clients.length / 2) + 1;
    }
  }

  /** The one Redis of a single-instance store (undefined for a quorum or a cluster). */
  get single(): ScriptedRedis | undefined {
    return this.mode === 'single' ? (this.clients[0] as ScriptedRedis) : undefined;
  }

  /** For each id, the answer of each instance that holds it. */
  async run<T>(ids: IdKey[], call: Call<T>): Promise<Vote<T>[][]> {
    if (ids.length === 0) return [];
    return this.cluster ? this.runOnCluster(this.cluster, ids, call) : this.runOnAll(ids, call);
  }

  private async runOnAll<T>(ids: IdKey[], call: Call<T>): Promise<Vote<T>[][]> {
    const all = ids.map((_, j) => j);
    const route = this.route(ids[0]!);
    this.calls += this.clients.length;
    const answers: Vote<T[]>[] =
      this.clients.length === 1
        ? [await call(this.clients[0]!, route, all, 0, '0', false).then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }))]
        : (await Promise.allSettled(this.clients.map((c, i) => call(c, route, all, i, String(i), false)))).map((s) => (s.status === 'fulfilled' ? { ok: true, value: s.value } : { ok: false, error: s.reason }));
    return ids.map((_, j) => answers.map((a) => (a.ok ? { ok: true, value: a.value[j]! } : a)));
  }

  private async runOnCluster<T>(cluster: ScriptedCluster, ids: IdKey[], call: Call<T>): Promise<Vote<T>[][]> {
    const out: Vote<T>[][] = new Array(ids.length);
    const deadline = Date.now() + this.retryMs;
    let pending = ids.map((_, j) => j);
    const cutShort = new Set<number>();
    for (let attempt = 0; pending.length > 0; attempt++) {
      const failed: number[] = [];
      let lastError: unknown;
      await Promise.all(
        [...this.byNode(cluster, ids, pending)].map(async ([node, idx]) => {
          this.calls += 1;
          try {
            const values = await call(cluster, this.route(ids[idx[0]!]!), idx, 0, node, idx.some((j) => cutShort.has(j)));
            idx.forEach((j, k) => (out[j] = [{ ok: true, value: values[k]! }]));
          } catch (error) {
            lastError = error;
            if (CUT_SHORT.test(errorMessage(error))) idx.forEach((j) => cutShort.add(j));
            if (TRANSIENT.test(errorMessage(error)) && Date.now() < deadline) failed.push(...idx);
            else idx.forEach((j) => (out[j] = [{ ok: false, error }]));
          }
        }),
      );
      pending = failed;
      if (pending.length > 0) {
        // Fresh slots before the next split; the client also refreshes on MOVED by itself.
        cluster.refreshSlotsCache();
        await sleep(Math.min(1000, 50 * 2 ** attempt));
        if (Date.now() >= deadline) {
          for (const j of pending) out[j] = [{ ok: false, error: lastError }];
          pending = [];
        }
      }
    }
    return out;
  }

  /** The ids at `pending`, by the master that serves their slot (unknown slots go together). */
  private byNode(cluster: ScriptedCluster, ids: IdKey[], pending: number[]): Map<string, number[]> {
    const groups = new Map<string, number[]>();
    for (const j of pending) {
      const node = cluster.slots[calculateSlot(ids[j]!.tag)]?.[0] ?? '?';
      const g = groups.get(node);
      if (g) g.push(j);
      else groups.set(node, [j]);
    }
    return groups;
  }

  /** A key of the id, so the cluster client sends the call to the id's node. */
  private route(id: IdKey): string {
    return `${this.keys.prefixes[2]}${id.tag}:${id.part}`;
  }

  /** The error to report when fewer than a quorum of instances answered for an id, else undefined. */
  failure(votes: Vote<unknown>[], what: string): StoreUnavailableError | undefined {
    const failed = votes.filter((v): v is { ok: false; error: unknown } => !v.ok);
    if (votes.length - failed.length >= this.quorum) return undefined;
    const which = this.mode === 'quorum' ? `${failed.length} of ${votes.length} Redis instances failed` : this.mode === 'cluster' ? 'Redis Cluster failed' : 'Redis failed';
    return new StoreUnavailableError(`${what}: ${which} (${failed.map((f) => errorMessage(f.error)).join('; ')})`, { cause: failed[0]?.error });
  }

  async healthy(): Promise<boolean> {
    return this.clients.filter((c) => c.status === 'ready').length >= this.quorum;
  }

  /** Resolves true once healthy again, or false after `ms` or once closed. */
  async healthyWithin(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (!(await this.healthy())) {
      if (Date.now() >= until || this.closed) return false;
      await sleep(50);
    }
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.clients.map((c) => c.quit().catch(() => c.disconnect())));
  }
}
