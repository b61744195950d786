/**
 * A replica partitioned from RabbitMQ only (its Redis link stays up): packets stop,
 * no reset, longer than the AMQP heartbeat timeout. The broker gives the replica's
 * unacked deliveries to another replica while the cut one finishes its runs and
 * records them; the copies must find those records (no second run), and the cut
 * replica must reconnect and consume again after the heal.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Replica } from '../src/index.js';
import { describeOutcome, outcome, secondBatch, sleep } from './helpers/fault-outcome.js';
import { spawnCli, startArgs, type ReplicaProcess } from './helpers/processes.js';
import { AMQP_URL, LEDGER_HANDLER, REDIS_URL, body, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

/** Seconds: both sides give the connection up after two missed heartbeats. */
const HEARTBEAT = 2;

describe('a replica partitioned from RabbitMQ', () => {
  let env: TestEnv | undefined;
  let proxy: TcpProxy | undefined;
  let cut: Replica | undefined;
  let other: ReplicaProcess | undefined;
  afterEach(async () => {
    proxy?.heal();
    await cut?.stop();
    if (other && other.child.exitCode === null) {
      other.child.kill('SIGTERM');
      await other.exited;
    }
    await proxy?.close();
    await env?.cleanup();
    [env, proxy, cut, other] = [];
  });

  it('cut for 3 heartbeat timeouts: its deliveries go to the other replica and are acked against its records; 0 lost, 0 run twice; it consumes again after the heal', async () => {
    env = await testEnv('part-amqp');
    proxy = await startTcpProxy(Number(new URL(AMQP_URL).port || 5672));
    cut = await new Replica({
      amqpUrl: `${proxy.url(AMQP_URL)}?heartbeat=${HEARTBEAT}`,
      redisUrls: [REDIS_URL],
      queue: env.queue,
      prefix: env.prefix,
      handler: LEDGER_HANDLER,
      threads: 2,
      prefetch: 6,
      lockTtlMs: '2s',
      logLevel: 'silent',
    }).start();
    other = spawnCli(startArgs({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--threads', '2', '--prefetch', '6', '--lock-ttl', '2s'] }));
    await other.waitForLog('replica started');
    const ids = Array.from({ length: 240 }, (_, i) => `pa-${i}`);
    await publishRaw(env.ch, env.queue, ids.map((id) => body(id, { ledger: env!.ledger, sleepMs: 120 })));
    await waitFor(() => cut!.stats.completed >= 15, 30_000, 'the cut replica completed some');

    const cutAt = Date.now();
    proxy.cut();
    const held = cut.stats.inFlight;
    await sleep(3 * 2 * HEARTBEAT * 1000);
    const healedAt = Date.now();
    proxy.heal();
    const otherDuringCut = readLedger(env.ledger).filter((l) => l.ev === 'done' && l.pid === other!.child.pid && l.t > cutAt && l.t < healedAt).length;
    expect(otherDuringCut).toBeGreaterThan(0);

    await waitFor(() => cut!.stats.reconnects >= 1 && cut!.ready, 60_000, 'the cut replica reconnected');
    const { all, completedAfter } = await secondBatch(env, cut, ids, 'pa');
    expect(completedAfter).toBeGreaterThan(0);

    const o = outcome(env.ledger, all);
    expect(o.lost).toEqual([]);
    // Every run the cut replica had finished was recorded (its Redis link was up): the copies
    // the broker redelivered elsewhere found the records, or waited for the runs still going.
    expect(o.twice).toEqual([]);
    const stalledMs = (readLedger(env.ledger).find((l) => l.ev === 'done' && l.pid === process.pid && l.t > healedAt)?.t ?? NaN) - healedAt;
    console.info(
      `rabbitmq partition ${(healedAt - cutAt) / 1000} s (heartbeat ${HEARTBEAT} s): ${describeOutcome(o)}; cut replica held ${held} deliveries at the cut, reconnects ${cut.stats.reconnects}, first run after the heal ${stalledMs} ms; other replica completed ${otherDuringCut} during the cut`,
    );
  });
});
