/**
 * Resharding a real Redis Cluster (3 masters + 3 replicas on loopback) while the pool
 * consumes (`npm run test:redis-cluster`): every slot of one master moves to another
 * with `redis-cli --cluster reshard`. What docs/clusters.md promises ("## Redis Cluster",
 * "Resharding:"): nothing lost or dead-lettered, calls follow MOVED and ASK, records
 * end up on the master that owns their slot now; only a copy of an id completed
 * before the move that arrives during it may run once more.
 */
import { afterEach, describe, expect, it } from 'vitest';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { DedupStore, Replica, connectCluster, keysFor } from '../src/index.js';
import { forEachKeys } from '../bench/lib/services.js';
import { LEDGER_HANDLER, body, executions, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { startRedisCluster, type ClusterNode, type RedisClusterHarness } from './support/redis-cluster.js';

/** Waves of messages published while the slots move, each once a further share of them has moved. */
const WAVES_DURING = 8;
const FRESH_BEFORE = 600;
const FRESH_PER_WAVE = 180;
const FRESH_AFTER = 360;
/** Copies of already recorded ids per wave during the move, and after it (with the adjacent copies, about 20% of the messages). */
const COPIES_PER_WAVE = 30;
const COPIES_AFTER = 80;

/** A wave's messages: its new ids, every tenth followed right away by a copy of itself, with the copies of earlier ids spread among them. */
function wave(fresh: string[], copies: string[]): string[] {
  const out: string[] = [];
  fresh.forEach((id, i) => (i % 10 === 0 ? out.push(id, id) : out.push(id)));
  copies.forEach((id, i) => out.splice(Math.floor(((i + 1) * out.length) / (copies.length + 1)), 0, id));
  return out;
}

/** Up to `n` of `ids`, picked at random. */
function sample<T>(ids: T[], n: number): T[] {
  const copy = ids.slice();
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, n);
}

async function onNode(node: ClusterNode, ...command: (string | number)[]): Promise<unknown> {
  const r = new Redis(node.url);
  try {
    return await r.call(...(command.map(String) as [string, ...string[]]));
  } finally {
    r.disconnect();
  }
}

async function keysOn(node: ClusterNode, pattern: string): Promise<string[]> {
  const r = new Redis(node.url);
  const keys: string[] = [];
  await forEachKeys(r, pattern, async (batch) => keys.push(...batch));
  r.disconnect();
  return keys;
}

describe('Redis Cluster resharding under load', () => {
  let env: TestEnv;
  let cluster: RedisClusterHarness | undefined;
  let replicas: Replica[] = [];
  let resharding: Promise<unknown> | undefined;
  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    replicas = [];
    // A failed test may leave redis-cli moving slots: let it end before its nodes go.
    await resharding?.catch(() => {});
    resharding = undefined;
    await cluster?.stop();
    cluster = undefined;
    await env.cleanup();
  });

  it('a slot move stopped on BUSYKEY (a record hash written on both nodes during the move) is settled without losing a record', async () => {
    env = await testEnv('cluster-busykey');
    cluster = await startRedisCluster();
    const [from, to] = await cluster.masters();
    const keys = keysFor(env.prefix, env.queue, { legacy: false });
    const onFrom = new Set(await cluster.slotsOf(from!));
    const candidates = Array.from({ length: 50_000 }, (_, i) => `bk-${i}`);
    const a = candidates.find((id) => onFrom.has(calculateSlot(keys.id(id).tag)))!;
    const b = candidates.find((id) => id !== a && keys.id(id).tag === keys.id(a).tag)!;
    const slot = calculateSlot(keys.id(a).tag);
    const store = new DedupStore(connectCluster(cluster.urls), { keys, lockTtlMs: 30_000, dedupTtlMs: 3600_000 });
    try {
      await waitFor(() => store.healthy(), 5000, 'cluster client');
      const completeOne = async (id: string) => {
        const begun = await store.begin(id);
        if (begun.state !== 'acquired') throw new Error(`${id}: ${begun.state}`);
        expect(await store.complete(begun.lease, `rec-${id}`)).toBe(true);
      };
      await completeOne(a);
      // The slot starts to move; b, of the same bucket, completes on the importing node (ASK).
      const [fromId, toId] = [await cluster.nodeId(from!), await cluster.nodeId(to!)];
      await onNode(to!, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
      await onNode(from!, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
      await completeOne(b);
      const hash = (await keysOn(to!, `${keys.prefixes[0]}*`))[0]!;
      expect(await keysOn(from!, hash)).toEqual([hash]); // the same hash on both nodes

      // What redis-cli's reshard meets when it moves that slot's keys (it then stops, the slot left open).
      const stopped = await onNode(from!, 'MIGRATE', '127.0.0.1', to!.port, hash, 0, 5000).then(() => undefined, (err: Error) => err);
      expect(stopped?.message).toMatch(/BUSYKEY/);
      expect(await cluster.settleOpenSlots(from!, to!)).toEqual([slot]);

      expect(await cluster.slotsOf(to!)).toContain(slot);
      expect(await keysOn(from!, `${env.prefix}:*`)).not.toContain(hash);
      for (const id of [a, b]) expect((await store.inspect(id)).record, id).toBe(`rec-${id}`);
      // The cluster is whole again: a reshard (which refuses a cluster with open slots) goes on.
      const toBefore = (await cluster.slotsOf(to!)).length;
      await cluster.reshard(from!, to!, 10);
      expect((await cluster.slotsOf(to!)).length).toBe(toBefore + 10);
    } finally {
      await store.close();
    }
  });

  it('every slot of a master moved mid-run: 0 lost, records on the new owner, re-runs only of copies that arrived during the move', async () => {
    env = await testEnv('cluster-reshard');
    cluster = await startRedisCluster();
    const [from, to] = await cluster.masters();
    const moving = await cluster.slotsOf(from!);
    const toBefore = (await cluster.slotsOf(to!)).length;
    const movingSet = new Set(moving);
    const keys = keysFor(env.prefix, env.queue, { legacy: false });
    const slotOf = (id: string) => calculateSlot(keys.id(id).tag);

    /** The replicas' warnings and errors (a lease lost, the store unavailable), kept to explain the counts. */
    type LogLine = { level: number; msg: string; msgId?: string; err?: string; time: number };
    const logged: LogLine[] = [];
    /** Ids whose completion record a replica wrote (its complete call said so). */
    const recorded = new Set<string>();
    const start = async (): Promise<Replica> => {
      const log = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line) as LogLine) });
      const r = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 2, prefetch: 50, redisCluster: cluster!.urls }, log).start();
      r.on('completed', (id) => recorded.add(id));
      replicas.push(r);
      return r;
    };
    let nextId = 0;
    const ids: string[] = [];
    const freshIds = (n: number) => Array.from({ length: n }, () => `rs-${nextId++}`).map((id) => (ids.push(id), id));
    let published = 0;
    const publish = async (messages: string[]) => {
      await publishRaw(env.ch, env.queue, messages.map((id) => body(id, { ledger: env.ledger, sleepMs: 3 })));
      published += messages.length;
    };
    const copied = new Set<string>();
    /** Copies of `n` ids already recorded, never of one id twice; `where` narrows the choice. */
    const copiesOfRecorded = (n: number, where: (id: string) => boolean = () => true) => {
      const picked = sample([...recorded].filter((id) => !copied.has(id) && where(id)), n);
      for (const id of picked) copied.add(id);
      return picked;
    };

    // Before the move: a first share of the ids, all completed.
    await publish(wave(freshIds(FRESH_BEFORE), []));
    await start();
    await start();
    await waitFor(() => executions(env.ledger).size === FRESH_BEFORE, 60_000, 'the ids published before the move executed');

    // The move, and waves published as it goes: each once another ninth of the slots has
    // moved (machine speed changes how long that takes, not what is published when).
    const reshardStarted = Date.now();
    let reshardEnded = 0; // when redis-cli exited, whatever its outcome
    let busyKeyStops = 0;
    /** Every slot of `from` to `to`; a stop on BUSYKEY (README: rare, a slot's move is milliseconds) is settled and the move goes on. */
    const moveAll = async (): Promise<void> => {
      for (;;) {
        const left = (await cluster!.slotsOf(from!)).length;
        if (left === 0) return;
        const stopped = await cluster!.reshard(from!, to!, left).then(() => undefined, (err: Error) => err);
        if (!stopped) return;
        if (!/BUSYKEY/.test(stopped.message)) throw stopped;
        busyKeyStops += 1;
        await cluster!.settleOpenSlots(from!, to!);
      }
    };
    resharding = moveAll().finally(() => (reshardEnded = Date.now()));
    const reshardError = resharding.then(() => undefined, (err: unknown) => err);
    /** Ids recorded before a copy of theirs was published while slots were moving: the README's allowance. */
    const copiedDuringMove = new Set<string>();
    for (let k = 1; k <= WAVES_DURING; k++) {
      const moved = Math.ceil((k * moving.length) / (WAVES_DURING + 1));
      await waitFor(async () => reshardEnded > 0 || (await cluster!.slotsOf(to!)).length >= toBefore + moved, 90_000, `${moved} slots moved`);
      if (reshardEnded > 0) break;
      // Copies of ids whose slots have yet to move: those may arrive while their slot migrates.
      const stillOnSource = new Set(await cluster.slotsOf(from!));
      const copies = copiesOfRecorded(COPIES_PER_WAVE, (id) => stillOnSource.has(slotOf(id)));
      for (const id of copies) copiedDuringMove.add(id);
      await publish(wave(freshIds(FRESH_PER_WAVE), copies));
    }
    expect(await reshardError).toBeUndefined();

    // After the move: more new ids, and copies of ids recorded before or during it.
    await publish(wave(freshIds(FRESH_AFTER), copiesOfRecorded(COPIES_AFTER)));
    await waitFor(
      async () => executions(env.ledger).size === ids.length && (await env.ch.checkQueue(env.queue)).messageCount === 0 && replicas.every((r) => r.stats.inFlight === 0),
      120_000,
      `all ${ids.length} ids executed and settled`,
    );

    const ledger = readLedger(env.ledger);
    const counts = executions(env.ledger);
    const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    const done = ledger.filter((l) => l.ev === 'done');
    const firstDone = new Map<string, number>();
    for (const l of done) if (!firstDone.has(l.id)) firstDone.set(l.id, l.t);
    const doneAt = [...firstDone.values()];
    const stats = replicas.map((r) => r.stats);
    const sum = (f: (s: (typeof stats)[number]) => number) => stats.reduce((n, s) => n + f(s), 0);
    const duringMoveOnSource = [...firstDone].filter(([id, t]) => t >= reshardStarted && t <= reshardEnded && movingSet.has(slotOf(id))).length;
    console.log(
      `cluster reshard: ${moving.length} slots moved in ${reshardEnded - reshardStarted} ms; ${ids.length} ids, ${published} messages; ` +
        `${doneAt.filter((t) => t < reshardStarted).length} ids completed before the move, ${doneAt.filter((t) => t >= reshardStarted && t <= reshardEnded).length} during it (${duringMoveOnSource} of them on moving slots), ` +
        `${doneAt.filter((t) => t > reshardEnded).length} after; ${copiedDuringMove.size} copies of recorded ids published during it (the bound on re-runs); ` +
        `${twice.length} ids executed twice; reshard stops on BUSYKEY ${busyKeyStops}; leases lost ${sum((s) => s.leaseLost)}, requeued ${sum((s) => s.requeued)}, store errors ${sum((s) => s.storeErrors)}`,
    );

    const byMessage = new Map<string, string[]>();
    for (const l of logged) {
      const msg = `${l.level >= 50 ? 'error' : 'warning'}: ${l.msg}${l.err ? ` (${l.err})` : ''}`;
      byMessage.set(msg, [...(byMessage.get(msg) ?? []), l.msgId ?? '']);
    }
    for (const [msg, about] of byMessage) console.log(`  ${about.length} x replica ${msg}${about[0] ? `: ${about.join(' ')}` : ''}`);

    // The move overlapped the run: ids completed before it, while it ran (some on the slots moving), and after.
    expect(doneAt.filter((t) => t < reshardStarted).length).toBe(FRESH_BEFORE);
    expect(duringMoveOnSource).toBeGreaterThan(0);
    expect(doneAt.filter((t) => t > reshardEnded).length).toBeGreaterThan(0);
    expect(copiedDuringMove.size).toBeGreaterThan(0);

    // Nothing lost, nothing dead-lettered or retried; no call failed for good (the store
    // retries redirections for 15 s, a slot moves in milliseconds).
    expect(ids.filter((id) => !counts.has(id))).toEqual([]);
    expect(counts.size).toBe(ids.length);
    expect((await env.ch.checkQueue(`${env.queue}.dlq`)).messageCount).toBe(0);
    expect(sum((s) => Object.values(s.deadLettered).reduce((a, b) => a + b, 0))).toBe(0);
    expect(sum((s) => s.retried)).toBe(0);
    expect(sum((s) => s.storeErrors)).toBe(0);
    expect(logged.filter((l) => l.level >= 50)).toEqual([]);

    // Re-runs: only of ids completed before a copy of theirs was published during the move, once at most.
    expect(twice.filter((id) => !copiedDuringMove.has(id))).toEqual([]);
    expect(twice.length).toBeLessThanOrEqual(copiedDuringMove.size);
    expect([...counts.values()].every((n) => n <= 2)).toBe(true);

    // Every execution accounted for: each handler that started finished, and its run was
    // either recorded (completed) or answered "not recorded" (lease lost: requeued, and a
    // redelivery runs it or acks it as a duplicate). Each message was acked once, as a
    // completion or as a duplicate.
    expect(ledger.filter((l) => l.ev === 'start').length).toBe(done.length);
    expect(done.length).toBe(sum((s) => s.completed + s.leaseLost));
    // No lease runs out here, and a complete call that a moving slot cut short (its first
    // records written) finds them when retried: no run is reported as a lost lease.
    expect(sum((s) => s.leaseLost)).toBe(0);
    expect(sum((s) => s.completed + s.duplicates.done + s.duplicates['in-flight'])).toBe(published);
    expect(sum((s) => s.deliveries - s.requeued)).toBe(published);

    // The source serves no slot now; every key of the run is on the master that owns its
    // slot, and the records of the ids that lived on the moved slots are on the target.
    expect(await cluster.slotsOf(from!)).toEqual([]);
    const misplaced: string[] = [];
    for (const node of cluster.nodes) {
      const owned = new Set(await cluster.slotsOf(node));
      if (owned.size === 0) continue;
      for (const key of await keysOn(node, `${env.prefix}:*`)) if (!owned.has(calculateSlot(key))) misplaced.push(`${key} on ${node.port}`);
    }
    expect(misplaced).toEqual([]);
    const movedTags = new Set(ids.filter((id) => movingSet.has(slotOf(id))).map((id) => keys.id(id).tag));
    const onTarget = new Set((await keysOn(to!, `${keys.prefixes[0]}*`)).map((k) => /\{\d+\}/.exec(k)![0]));
    expect(movedTags.size).toBeGreaterThan(100);
    expect([...movedTags].filter((tag) => !onTarget.has(tag))).toEqual([]);

    // And the cluster client finds every id's record where its slot lives now.
    // The replicas' default window: record hashes are named by its time slots.
    const store = new DedupStore(connectCluster(cluster.urls), { keys, lockTtlMs: 5000, dedupTtlMs: 24 * 3600_000 });
    try {
      await waitFor(() => store.healthy(), 5000, 'cluster client');
      const missing: string[] = [];
      for (let i = 0; i < ids.length; i += 100) {
        const states = await Promise.all(ids.slice(i, i + 100).map((id) => store.inspect(id).then((s) => [id, s] as const)));
        for (const [id, s] of states) if (s.record === undefined) missing.push(id);
      }
      expect(missing).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
