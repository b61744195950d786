/**
 * A replica partitioned from Redis only (its AMQP link stays up): packets stop, no
 * reset, for longer than the lease; then a slow Redis link (100-600 ms per chunk, each
 * way). Another replica in its own process keeps its direct link. Counted from the
 * ledger: nothing lost, each duplicate execution explained by the fault, and the
 * faulted replica consumes again once its link is healthy.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Replica } from '../src/index.js';
import { describeOutcome, outcome, secondBatch, sleep } from './helpers/fault-outcome.js';
import { spawnCli, startArgs, type ReplicaProcess } from './helpers/processes.js';
import { AMQP_URL, LEDGER_HANDLER, REDIS_URL, body, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const LEASE = '2s';

describe('a replica whose Redis link fails (partition, latency)', () => {
  let env: TestEnv | undefined;
  let proxy: TcpProxy | undefined;
  let faulted: Replica | undefined;
  let other: ReplicaProcess | undefined;
  afterEach(async () => {
    proxy?.heal();
    await faulted?.stop();
    if (other && other.child.exitCode === null) {
      other.child.kill('SIGTERM');
      await other.exited;
    }
    await proxy?.close();
    await env?.cleanup();
    [env, proxy, faulted, other] = [];
  });

  /** The faulted replica (in this process, Redis through the proxy) and a healthy one (its own process). */
  async function twoReplicas(tag: string): Promise<{ env: TestEnv; proxy: TcpProxy; faulted: Replica }> {
    env = await testEnv(tag);
    proxy = await startTcpProxy(Number(new URL(REDIS_URL).port || 6379));
    faulted = await new Replica({
      amqpUrl: AMQP_URL,
      redisUrls: [proxy.url(REDIS_URL)],
      queue: env.queue,
      prefix: env.prefix,
      handler: LEDGER_HANDLER,
      threads: 2,
      prefetch: 6,
      lockTtlMs: LEASE,
      logLevel: 'silent',
    }).start();
    other = spawnCli(startArgs({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--threads', '2', '--prefetch', '6', '--lock-ttl', LEASE] }));
    await other.waitForLog('replica started');
    return { env, proxy, faulted };
  }

  /**
   * Cut for 3 leases, then healed: the bytes held meanwhile arrive (TCP retransmits them), or
   * with `reset` they never do (a firewall or NAT that dropped the connections' state).
   */
  async function cutRedis(tag: string, reset: boolean) {
    const { env, proxy, faulted } = await twoReplicas(tag);
    const ids = Array.from({ length: 240 }, (_, i) => `pr-${i}`);
    await publishRaw(env.ch, env.queue, ids.map((id) => body(id, { ledger: env.ledger, sleepMs: 120 })));
    await waitFor(() => faulted.stats.completed >= 15, 30_000, 'the faulted replica completed some');

    const cutAt = Date.now();
    proxy.cut();
    await sleep(500); // answers that passed the proxy before the cut are taken in by now
    const completedAtCut = faulted.stats.completed;
    await sleep(5500);
    const healedAt = Date.now();
    if (reset) proxy.reset();
    proxy.heal();
    // While cut, nothing was acked without a record; the other replica went on.
    expect(faulted.stats.completed).toBe(completedAtCut);
    const otherDoneDuringCut = readLedger(env.ledger).filter((l) => l.ev === 'done' && l.pid === other!.child.pid && l.t > cutAt && l.t < healedAt).length;
    expect(otherDoneDuringCut).toBeGreaterThan(0);

    // The pool consumes again on the healed replica.
    const { all, completedAfter } = await secondBatch(env, faulted, ids, tag);
    expect(completedAfter).toBeGreaterThan(0);

    const o = outcome(env.ledger, all);
    expect(o.lost).toEqual([]);
    // A second run of an id means a run of the cut replica finished but could not record its
    // completion: at most what it held (prefetch 6), each finished around the cut.
    expect(o.twice.length).toBeLessThanOrEqual(6);
    for (const t of o.twice) {
      const cutOff = t.done.filter((l) => l.pid === process.pid && l.t >= cutAt - 2000 && l.t <= healedAt + 2000);
      expect(cutOff.length, `duplicate ${t.id} is explained by the cut`).toBeGreaterThan(0);
    }
    console.info(
      `redis partition 6 s (lease ${LEASE})${reset ? ', then reset' : ''}: ${describeOutcome(o)}; faulted replica: leases lost ${faulted.stats.leaseLost}, store errors ${faulted.stats.storeErrors}; other replica completed ${otherDoneDuringCut} during the cut`,
    );
  }

  it('cut from Redis for 3 leases: nothing lost; a duplicate only for a run that finished around the cut; consuming again after the heal', async () => {
    await cutRedis('part-redis', false);
  });

  it('cut for 3 leases, then its connections reset (the held bytes never arrive): duplicates counted, each explained', async () => {
    await cutRedis('part-redis-reset', true);
  });

  it('100-600 ms on every chunk of the Redis link, each way: nothing lost, duplicates explained, normal again after', async () => {
    const { env, proxy, faulted } = await twoReplicas('lat-redis');
    const ids = Array.from({ length: 200 }, (_, i) => `lr-${i}`);
    await publishRaw(env.ch, env.queue, ids.map((id) => body(id, { ledger: env.ledger, sleepMs: 120 })));
    await waitFor(() => faulted.stats.completed >= 10, 30_000, 'the faulted replica completed some');

    const slowFrom = Date.now();
    [proxy.latencyMs, proxy.jitterMs] = [100, 500];
    const before = { completed: faulted.stats.completed, lost: faulted.stats.leaseLost };
    await sleep(8000);
    const during = { completed: faulted.stats.completed - before.completed, leaseLost: faulted.stats.leaseLost - before.lost };
    const slowUntil = Date.now();
    [proxy.latencyMs, proxy.jitterMs] = [0, 0];

    const { all, completedAfter } = await secondBatch(env, faulted, ids, 'lr');
    expect(completedAfter).toBeGreaterThan(0);

    const o = outcome(env.ledger, all);
    expect(o.lost).toEqual([]);
    // A second run needs a run of the slow replica that finished while its link was slow and
    // whose record came too late (its lease lost to the other replica meanwhile).
    for (const t of o.twice) {
      const slow = t.done.filter((l) => l.pid === process.pid && l.t >= slowFrom - 2000 && l.t <= slowUntil + 2000);
      expect(slow.length, `duplicate ${t.id} is explained by the slow link`).toBeGreaterThan(0);
    }
    expect(o.twice.length).toBeLessThanOrEqual(faulted.stats.leaseLost + faulted.stats.storeErrors * 6);
    console.info(
      `redis latency 100-600 ms for 8 s (lease ${LEASE}): ${describeOutcome(o)}; slow replica while slow: completed ${during.completed}, leases lost ${during.leaseLost}; total leases lost ${faulted.stats.leaseLost}, store errors ${faulted.stats.storeErrors}`,
    );
  });
});
