/**
 * The pool on a real 3-node RabbitMQ cluster with quorum queues (the cluster is
 * started once for this file, on random loopback ports): `npm run test:rabbit-cluster`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { forEachKeys } from '../bench/lib/services.js';
import { Producer, Replica } from '../src/index.js';
import { startRabbitCluster, type RabbitCluster, type RabbitNode } from './helpers/rabbit-cluster.js';
import { LEDGER_HANDLER, REDIS_URL, executions, readLedger, waitFor } from './helpers/services.js';

let cluster: RabbitCluster;

/** Read while handlers append to the ledger: a line being written makes it -1. */
function whileWriting(read: () => number): number {
  try {
    return read();
  } catch {
    return -1;
  }
}
const executed = (ledger: string) => whileWriting(() => executions(ledger).size);
const started = (ledger: string) => whileWriting(() => readLedger(ledger).filter((l) => l.ev === 'start').length);
beforeAll(async () => {
  cluster = await startRabbitCluster(3);
});
afterAll(async () => {
  await cluster?.stop();
});

describe('RabbitMQ cluster harness', () => {
  it('joins three nodes, none of them the machine node', async () => {
    const status = await cluster.ctl(cluster.nodes[0]!, 'cluster_status', '--formatter', 'json');
    const running = (JSON.parse(status) as { running_nodes: string[] }).running_nodes;
    expect(running.sort()).toEqual(cluster.nodes.map((n) => n.name).sort());
    expect(cluster.nodes.every((n) => n.port !== 5672 && !n.name.startsWith('rabbit@'))).toBe(true);
  });
});

describe('a node of the cluster dies (SIGKILL)', () => {
  let queue: string;
  let prefix: string;
  let ledger: string;
  let replicas: Replica[] = [];
  let killed: RabbitNode | undefined;

  async function setup(tag: string): Promise<void> {
    const suffix = randomBytes(4).toString('hex');
    queue = `test.cluster-${tag}.${suffix}`;
    prefix = `test:cluster-${tag}:${suffix}`;
    ledger = join(mkdtempSync(join(tmpdir(), 'dedup-ledger-')), 'ledger.jsonl');
  }

  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    replicas = [];
    if (killed) await cluster.restart(killed); // the next test starts with three nodes again
    killed = undefined;
    const conn = await amqp.connect(cluster.nodes.find((n) => cluster.alive(n))!.url);
    const ch = await conn.createChannel();
    for (const q of [queue, `${queue}.retry`, `${queue}.dlq`]) await ch.deleteQueue(q).catch(() => {});
    await conn.close().catch(() => {});
    const redis = new Redis(REDIS_URL);
    await forEachKeys(redis, `${prefix}:*`, (keys) => redis.del(...keys));
    redis.disconnect();
  });

  const poolOptions = () => ({
    queue,
    prefix,
    handler: LEDGER_HANDLER,
    amqpUrl: cluster.amqpList,
    queueType: 'quorum' as const,
    threads: 1,
    concurrency: 2,
    prefetch: 20,
    lockTtlMs: 5000,
    logLevel: 'silent' as const,
  });
  const message = (id: string) => ({ message_id: id, data: { ledger, sleepMs: 5 } });
  const redacted = (n: RabbitNode) => n.url.replace('guest:guest', 'guest:***');

  it('the queue leader node: nothing lost, nothing run twice, consuming again within seconds', async () => {
    await setup('leader');
    // The first replica declares the queue, so the leader is on its node: the kill takes its connection too.
    replicas = [await new Replica(poolOptions()).start(), await new Replica(poolOptions()).start()];
    expect(replicas[0]!.amqpNode).not.toBe(replicas[1]!.amqpNode);
    const leader = await cluster.leaderOf(queue);
    expect(replicas.map((r) => r.amqpNode)).toContain(redacted(leader));
    const ids = Array.from({ length: 3000 }, (_, i) => `lk-${i}`);
    const copies = ids.filter((_, i) => i % 10 === 0); // 10% duplicate ids
    const producer = new Producer({ queue, amqpUrl: cluster.amqpList, queueType: 'quorum' });
    await producer.publishMany([...ids, ...copies].map(message));
    await producer.close();

    await waitFor(() => executed(ledger) >= 600, 60_000, 'a fifth done');
    killed = leader;
    const killedAt = Date.now();
    cluster.kill(killed);
    expect(executed(ledger)).toBeLessThan(ids.length); // the kill was mid-run

    await waitFor(() => replicas.some((r) => r.stats.reconnects > 0) && replicas.every((r) => r.ready), 60_000, 'every replica consuming again');
    const reconnectedMs = Date.now() - killedAt;
    await waitFor(() => executed(ledger) === ids.length, 90_000, 'every id executed');
    // The copies were published last, but deliveries the dead node held come back ahead of them:
    // wait for the copies themselves, not only for every id to have run.
    const dups = () => replicas.reduce((n, r) => n + r.stats.duplicates.done + r.stats.duplicates['in-flight'], 0);
    await waitFor(() => dups() >= copies.length, 60_000, 'every copy acked as a duplicate');
    await waitFor(() => replicas.every((r) => r.stats.inFlight === 0), 30_000, 'every delivery settled');

    const runs = executions(ledger);
    expect(ids.filter((id) => !runs.has(id))).toEqual([]); // 0 lost
    expect([...runs].filter(([, n]) => n > 1)).toEqual([]); // 0 duplicate executions: every copy was acked, never run
    const done = readLedger(ledger).filter((l) => l.ev === 'done').map((l) => l.t);
    const after = done.filter((t) => t >= killedAt);
    const stallMs = Math.max(after[0]! - killedAt, ...after.slice(1).map((t, i) => t - after[i]!));
    console.log(`leader kill: replicas consuming again after ${(reconnectedMs / 1000).toFixed(1)} s; longest time without progress ${(stallMs / 1000).toFixed(1)} s`);
  });

  it('a handler running when its node dies finishes once; its redelivered copy waits for it and is acked as a duplicate', async () => {
    await setup('running');
    // The handlers hold until the test lets them go: still running when their copies come back, however slow the failover.
    const go = `${ledger}.go`;
    const slow = (id: string) => ({ message_id: id, data: { ledger, holdFile: go } });
    const first = await new Replica(poolOptions()).start();
    replicas = [first];
    const producer = new Producer({ queue, amqpUrl: cluster.amqpList, queueType: 'quorum' });
    await producer.publishMany(['run-1', 'run-2'].map(slow));
    await producer.close();
    await waitFor(() => started(ledger) === 2, 30_000, 'both handlers running');
    const second = await new Replica(poolOptions()).start();
    replicas.push(second);
    killed = cluster.nodes.find((n) => first.amqpNode === redacted(n))!;
    cluster.kill(killed);

    // Both copies come back (to the survivor, or to the first replica reconnected) and wait for the runs.
    const sum = (f: (r: Replica) => number) => replicas.reduce((n, r) => n + f(r), 0);
    await waitFor(() => sum((r) => r.stats.parked) >= 2, 60_000, 'the redelivered copies waiting');
    expect(executed(ledger)).toBe(0);
    writeFileSync(go, '');
    await waitFor(() => executed(ledger) === 2, 30_000, 'both handlers finished');
    // A copy redelivered to the other replica waits for the lease in Redis; one redelivered to the
    // reconnected first replica follows the run still going there. Either way: acked as a duplicate.
    await waitFor(() => sum((r) => r.stats.duplicates['in-flight']) === 2, 30_000, 'the redelivered copies acked as duplicates');
    expect(sum((r) => r.stats.parked)).toBeGreaterThanOrEqual(2);
    expect(sum((r) => r.stats.completed)).toBe(2);
    expect(second.stats.completed).toBe(0);
    expect([...executions(ledger).values()]).toEqual([1, 1]);
    expect(readLedger(ledger).filter((l) => l.ev === 'start')).toHaveLength(2);
  });

  it('classic side queues left on a dead node (made by an older version) do not keep the pool from attaching', async () => {
    await setup('classic-side');
    const home = cluster.nodes[1]!;
    const conn = await amqp.connect(home.url);
    const ch = await conn.createChannel();
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.assertQueue(`${queue}.dlq`, { durable: true });
    await ch.assertQueue(`${queue}.retry`, { durable: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': queue } });
    await conn.close();
    killed = home;
    cluster.kill(home);

    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    replicas = [await new Replica(poolOptions(), log).start()];
    expect(lines.filter((l) => /is unavailable: messages that go there are requeued until it is back/.test(String(l.msg))).map((l) => l.queue).sort()).toEqual([
      `${queue}.dlq`,
      `${queue}.retry`,
    ]);
    const producer = new Producer({ queue, amqpUrl: cluster.amqpList, queueType: 'quorum' });
    await producer.publish(message('side-1'));
    await producer.close();
    await waitFor(() => executed(ledger) === 1, 30_000, 'the message processed');
  });

  it("the publisher's node, mid-publish: every confirmed and every retried id processed once", async () => {
    await setup('publisher');
    replicas = [await new Replica(poolOptions()).start()];
    const producer = new Producer({ queue, amqpUrl: cluster.amqpList, queueType: 'quorum' });
    const confirmed: string[] = [];
    let chunk = 0;
    const publishing = (async () => {
      for (; chunk < 30; chunk++) {
        const ids = Array.from({ length: 100 }, (_, i) => `pk-${chunk}-${i}`);
        confirmed.push(...(await producer.publishMany(ids.map(message))));
      }
    })();
    await waitFor(() => confirmed.length >= 500 && producer.connectedTo !== undefined, 60_000, 'a sixth published');
    killed = cluster.nodes.find((n) => producer.connectedTo === redacted(n))!;
    cluster.kill(killed);
    const killedAt = Date.now();
    const chunkAtKill = chunk;
    await waitFor(() => producer.connectedTo !== undefined && producer.connectedTo !== redacted(killed!), 30_000, 'the publisher on another node');
    console.log(`publisher's node killed: publishing again on another node after ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
    await publishing;
    console.log(`publisher: ${producer.resent} message(s) not confirmed by the killed node, published again on another`);
    await producer.close();
    expect(chunk).toBeGreaterThan(chunkAtKill); // the publisher carried on, on another node
    expect(confirmed.length).toBe(3000);

    await waitFor(() => executed(ledger) === confirmed.length, 90_000, 'every confirmed id executed');
    await waitFor(() => replicas.every((r) => r.stats.inFlight === 0), 30_000, 'every delivery settled');
    const runs = executions(ledger);
    expect(confirmed.filter((id) => runs.get(id) !== 1)).toEqual([]);
  });
});
