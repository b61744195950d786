/**
 * The bench's cluster chaos: a scenario run on a 3-node RabbitMQ cluster of its
 * own, whose queue leader's node is killed mid-run (and booted again before the
 * next variant).
 */
import amqp from 'amqplib';
import type { Env } from '../run.js';
import { startRabbitCluster, type RabbitNode } from './rabbit-cluster.js';

/** Run `fn` with an Env pointing at a fresh cluster: quorum queues declared on the first node, the bench's channel on the last. */
export async function clusterEnv<T>(base: Env, fn: (env: Env) => Promise<T>): Promise<T> {
  process.stderr.write('  starting a 3-node RabbitMQ cluster on loopback...\n');
  const cluster = await startRabbitCluster(3);
  const conn = await amqp.connect(cluster.nodes[2]!.url);
  conn.on('error', () => {});
  // Looked up as soon as a queue is declared (rabbitmqctl takes seconds here), so the kill lands when the scenario says.
  const leaders = new Map<string, Promise<RabbitNode>>();
  try {
    const ch = await conn.createConfirmChannel();
    const env: Env = {
      ...base,
      ch,
      amqpUrl: cluster.amqpList,
      // The leader goes where the queue is declared: on node 1, never under the bench's own channel.
      async declare(queue) {
        for (const node of cluster.nodes) if (!cluster.alive(node)) await cluster.restart(node);
        const c = await amqp.connect(cluster.nodes[0]!.url);
        await (await c.createChannel()).assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
        await c.close();
        const leader = cluster.leaderOf(queue);
        leader.catch(() => {}); // awaited (and its error thrown) only if the kill comes
        leaders.set(queue, leader);
      },
      async killQueueLeader(queue) {
        const leader = await (leaders.get(queue) ?? cluster.leaderOf(queue));
        cluster.kill(leader);
        return leader.name;
      },
    };
    return await fn(env);
  } finally {
    await conn.close().catch(() => {});
    await cluster.stop();
  }
}

/** Longest stretch (ms) without a new id in `series` ([epoch ms, ids so far]) from `from` until `total` ids. */
export function longestStall(series: [number, number][], from: number, total: number): number {
  let longest = 0;
  let since = from;
  let last = -1;
  for (const [t, n] of series) {
    if (t < from) {
      last = n;
      continue;
    }
    if (n !== last) {
      longest = Math.max(longest, t - since);
      since = t;
      last = n;
    }
    if (n >= total) break;
  }
  return longest;
}
