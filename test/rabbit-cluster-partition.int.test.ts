/**
 * A RabbitMQ node partitioned from the rest of its cluster, not killed, under
 * `cluster_partition_handling = pause_minority`, with the replicas connected to it:
 * `npm run test:rabbit-cluster` (its own 3-node cluster, on random loopback ports).
 *
 * The partition: on the node, the Erlang cookie it expects from its two peers is
 * changed and its links to them are dropped, so neither side can reconnect (a cut of
 * the inter-node network, stable until healed); clients still reach the node on
 * loopback. The node finds itself in the minority and pauses (stops its broker app,
 * closing its client connections) until the partition heals. What it models: a node
 * cut from its peers but not from its clients; what it does not: a client that is cut
 * too (the replica-side partition is faults-rabbit-partition).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { forEachKeys } from '../bench/lib/services.js';
import { Producer, Replica } from '../src/index.js';
import { describeOutcome, outcome, sleep } from './helpers/fault-outcome.js';
import { startRabbitCluster, type RabbitCluster, type RabbitNode } from './helpers/rabbit-cluster.js';
import { LEDGER_HANDLER, REDIS_URL, readLedger, waitFor } from './helpers/services.js';

let cluster: RabbitCluster;
beforeAll(async () => {
  cluster = await startRabbitCluster(3, ['cluster_partition_handling = pause_minority']);
});
afterAll(async () => {
  await cluster?.stop();
});

/** Erlang, on `node`: set the cookie it expects from each peer (and drop or restore the links). */
function peersOf(node: RabbitNode): string {
  return `[${cluster.nodes.filter((n) => n !== node).map((n) => `'${n.name}'`).join(', ')}]`;
}
const partition = (node: RabbitNode) => cluster.ctl(node, 'eval', `[begin erlang:set_cookie(P, partitioned), erlang:disconnect_node(P) end || P <- ${peersOf(node)}], ok.`);
const heal = (node: RabbitNode) => cluster.ctl(node, 'eval', `[begin erlang:set_cookie(P, erlang:get_cookie()), net_kernel:connect_node(P) end || P <- ${peersOf(node)}], ok.`);
const brokerRunning = async (node: RabbitNode) => (await cluster.ctl(node, 'eval', 'rabbit:is_running().').catch(() => '')).trim() === 'true';

describe('a node partitioned from its peers (pause_minority)', () => {
  let queue: string;
  let prefix: string;
  let ledger: string;
  let replicas: Replica[] = [];
  let cut: RabbitNode | undefined;

  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    replicas = [];
    if (cut) await heal(cut).catch(() => {});
    if (cut) await waitFor(() => brokerRunning(cut!), 60_000, 'the node back').catch(() => {});
    cut = undefined;
    const conn = await amqp.connect(cluster.nodes[1]!.url);
    const ch = await conn.createChannel();
    for (const q of [queue, `${queue}.retry`, `${queue}.dlq`]) await ch.deleteQueue(q).catch(() => {});
    await conn.close().catch(() => {});
    const redis = new Redis(REDIS_URL);
    await forEachKeys(redis, `${prefix}:*`, (keys) => redis.del(...keys));
    redis.disconnect();
  });

  it('the replicas on the paused node move to the majority: 0 lost, 0 run twice; the node rejoins after the heal', async () => {
    const suffix = randomBytes(4).toString('hex');
    queue = `test.cluster-partition.${suffix}`;
    prefix = `test:cluster-partition:${suffix}`;
    const dir = mkdtempSync(join(tmpdir(), 'dedup-ledger-'));
    ledger = join(dir, 'ledger.jsonl');
    const hold = join(dir, 'hold'); // ids past the first 300 wait for it, so the cut is mid-run however fast the run is
    const [minority] = cluster.nodes;
    const opts = { queue, prefix, handler: LEDGER_HANDLER, amqpUrl: cluster.amqpList, queueType: 'quorum' as const, threads: 1, concurrency: 2, prefetch: 20, lockTtlMs: '2s', logLevel: 'silent' as const };
    // Both replicas on the node to be partitioned (the first of the list); the first declares the queue there.
    replicas = [await new Replica(opts, undefined, { firstAmqpNode: 0 }).start(), await new Replica(opts, undefined, { firstAmqpNode: 0 }).start()];
    const onMinority = minority!.url.replace('guest:guest', 'guest:***');
    expect(replicas.map((r) => r.amqpNode)).toEqual([onMinority, onMinority]);

    const ids = Array.from({ length: 2000 }, (_, i) => `cp-${i}`);
    const producer = new Producer({ queue, amqpUrl: cluster.nodes.slice(1).map((n) => n.url).join(','), queueType: 'quorum' });
    await producer.publishMany(ids.map((id, i) => ({ message_id: id, data: { ledger, sleepMs: 5, holdFile: i >= 300 ? hold : undefined } })));
    await producer.close();
    const executed = () => {
      try {
        return ids.length - outcome(ledger, ids).lost.length;
      } catch {
        return -1; // a line being written
      }
    };
    await waitFor(() => executed() >= 250, 60_000, 'most of the first 300 executed');

    cut = minority;
    const cutAt = Date.now();
    await partition(minority!);
    await waitFor(async () => !(await brokerRunning(minority!)), 30_000, 'the minority node paused');
    const pausedMs = Date.now() - cutAt;
    expect(executed()).toBeLessThan(ids.length); // the partition was mid-run
    writeFileSync(hold, ''); // the held handlers on the paused node finish now; their acks cannot reach it
    await waitFor(() => replicas.every((r) => r.ready && r.amqpNode !== undefined && r.amqpNode !== onMinority), 60_000, 'the replicas consuming on the majority');
    const movedMs = Date.now() - cutAt;
    await waitFor(() => executed() === ids.length, 60_000, 'every id executed');
    await waitFor(() => replicas.every((r) => r.stats.inFlight === 0), 30_000, 'every delivery settled');
    await sleep(Math.max(0, cutAt + 10_000 - Date.now())); // partitioned for 10 s at least

    const healAt = Date.now();
    await heal(minority!);
    await waitFor(() => brokerRunning(minority!), 60_000, 'the node running again');
    const rejoinMs = Date.now() - healAt;
    cut = undefined;
    const status = JSON.parse(await cluster.ctl(cluster.nodes[1]!, 'cluster_status', '--formatter', 'json')) as { running_nodes: string[] };
    expect(status.running_nodes.sort()).toEqual(cluster.nodes.map((n) => n.name).sort());

    const o = outcome(ledger, ids);
    expect(o.lost).toEqual([]);
    expect(o.twice).toEqual([]); // every run recorded before its ack was lost: the redeliveries found the records
    const done = readLedger(ledger).filter((l) => l.ev === 'done').map((l) => l.t).sort((a, b) => a - b);
    const after = done.filter((t) => t >= cutAt);
    const stallMs = Math.max(after[0]! - cutAt, ...after.slice(1).map((t, i) => t - after[i]!));
    console.info(
      `rabbitmq node partitioned (pause_minority): ${describeOutcome(o)}; node paused after ${pausedMs} ms, replicas consuming on the majority after ${movedMs} ms, longest time without progress ${stallMs} ms, reconnects ${replicas.map((r) => r.stats.reconnects).join('/')}, duplicates acked ${replicas.reduce((n, r) => n + r.stats.duplicates.done + r.stats.duplicates['in-flight'], 0)}; node running again ${rejoinMs} ms after the heal`,
    );
  });
});
