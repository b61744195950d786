/**
 * Redis Cluster mode on a real cluster of 3 masters + 3 replicas on loopback
 * (`npm run test:redis-cluster`; slow, so not part of `npm test`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { DedupStore, Replica, connectCluster, keysFor } from '../src/index.js';
import { forEachKeys } from '../bench/lib/services.js';
import { LEDGER_HANDLER, body, executions, publishRaw, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { startRedisCluster, type RedisClusterHarness } from './support/redis-cluster.js';

/** Ids with 20% duplicate copies, half right behind their original, half far away. */
function withDuplicates(ids: string[]): string[] {
  const out = [...ids];
  for (let i = 0; i < ids.length / 5; i++) {
    const id = ids[(i * 7919) % ids.length]!;
    if (i % 2 === 0) out.splice(out.indexOf(id) + 1, 0, id);
    else out.push(id);
  }
  return out;
}

async function countKeys(url: string, pattern: string): Promise<number> {
  const r = new Redis(url);
  let n = 0;
  await forEachKeys(r, pattern, async (keys) => (n += keys.length));
  r.disconnect();
  return n;
}

describe('Redis Cluster (3 masters + 3 replicas)', () => {
  let env: TestEnv;
  let cluster: RedisClusterHarness | undefined;
  let replicas: Replica[] = [];
  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    replicas = [];
    await cluster?.stop();
    cluster = undefined;
    await env.cleanup();
  });

  const start = async (extra: Record<string, unknown> = {}): Promise<Replica> => {
    const r = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 2, prefetch: 50, redisCluster: cluster!.urls, logLevel: 'silent', ...extra }).start();
    replicas.push(r);
    return r;
  };
  const settled = (n: number, timeoutMs: number) =>
    waitFor(async () => executions(env.ledger).size === n && (await env.ch.checkQueue(env.queue)).messageCount === 0 && replicas.every((r) => r.stats.inFlight === 0), timeoutMs, `all ${n} ids executed and settled`);

  it('shards ids over every master: each id runs once, records on all three', async () => {
    env = await testEnv('cluster');
    cluster = await startRedisCluster();
    const ids = Array.from({ length: 1500 }, (_, i) => `c-${i}`);
    const messages = withDuplicates(ids);
    await publishRaw(env.ch, env.queue, messages.map((id) => body(id, { ledger: env.ledger })));
    await start();
    await start();
    await settled(ids.length, 60_000);

    expect([...executions(env.ledger).values()].filter((n) => n > 1)).toEqual([]);
    expect(replicas.reduce((n, r) => n + r.stats.completed, 0)).toBe(ids.length);
    expect(replicas.reduce((n, r) => n + r.stats.duplicates.done + r.stats.duplicates['in-flight'], 0)).toBe(messages.length - ids.length);
    const masters = await cluster.masters();
    const perMaster = await Promise.all(masters.map((m) => countKeys(m.url, `${env.prefix}:*:r:*`)));
    expect(perMaster).toHaveLength(3);
    for (const n of perMaster) expect(n).toBeGreaterThan(100);

    // Redis-atomic effects need one Redis: a cluster store refuses them, saying why.
    const store = new DedupStore(connectCluster(cluster.urls), { keys: keysFor(env.prefix, env.queue, { legacy: false }), lockTtlMs: 5000, dedupTtlMs: 60_000 });
    try {
      await waitFor(() => store.healthy(), 5000, 'cluster client');
      const begun = await store.begin('fx-1');
      if (begun.state !== 'acquired') throw new Error(`expected a lease, got ${begun.state}`);
      await expect(store.completeWithEffects(begun.lease, 'x', [{ command: 'SET', key: `${env.prefix}:fx`, args: ['1'] }])).rejects.toThrow(/need a single --redis instance \(this store is a Redis Cluster/);
    } finally {
      await store.close();
    }
  });

  // A master SIGKILLed mid-run: its replica is promoted (the cluster answers CLUSTERDOWN
  // meanwhile); calls are retried, nothing is lost. Leases and records the dead master had
  // acknowledged but not yet replicated are gone: those ids can run twice, at most the
  // batches in flight at the kill. With WAIT the records reach the replica before the acks.
  it.each([
    ['without WAIT', 0],
    ['with --redis-wait-replicas 1', 1],
  ])('a master killed mid-run (%s): 0 lost, duplicate executions counted and bounded', async (_name, waitReplicas) => {
    env = await testEnv(`cluster-kill-${waitReplicas}`);
    cluster = await startRedisCluster();
    const ids = Array.from({ length: 3000 }, (_, i) => `k-${i}`);
    const messages = withDuplicates(ids);
    await publishRaw(env.ch, env.queue, messages.map((id) => body(id, { ledger: env.ledger, sleepMs: 2 })));
    await start({ redisWaitReplicas: waitReplicas });
    await start({ redisWaitReplicas: waitReplicas });

    await waitFor(() => executions(env.ledger).size >= ids.length / 4, 60_000, 'a quarter done');
    const [victim] = await cluster.masters();
    await cluster.kill(victim!);
    await settled(ids.length, 120_000);

    const twice = [...executions(env.ledger)].filter(([, n]) => n > 1);
    const inFlightWindow = replicas.length * 50;
    process.stdout.write(`cluster master kill ${_name}: ${ids.length} ids, ${twice.length} executed twice, ${replicas.reduce((n, r) => n + r.stats.leaseLost, 0)} leases lost\n`);
    expect(twice.length).toBeLessThanOrEqual(inFlightWindow);
    expect([...executions(env.ledger).values()].every((n) => n <= 2)).toBe(true);
    expect((await env.ch.checkQueue(`${env.queue}.dlq`)).messageCount).toBe(0);
    // Every delivery was settled: completed, or acked as a duplicate of a completed id.
    const stats = replicas.map((r) => r.stats);
    expect(stats.reduce((n, s) => n + s.deliveries - s.requeued, 0)).toBe(stats.reduce((n, s) => n + s.completed + s.duplicates.done + s.duplicates['in-flight'], 0));
    await cluster.waitHealthy();
  });
});
