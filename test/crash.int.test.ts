import { afterEach, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { DedupStore, Replica, connectRedis, encodeRecord, fingerprint, keysFor } from '../src/index.js';
import { AMQP_URL, LEDGER_HANDLER, REDIS_URL, body, executions, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { spawnCli, startArgs } from './helpers/processes.js';

describe('crashes', () => {
  let env: TestEnv;
  afterEach(async () => env.cleanup());

  it('SIGKILL of a replica while handlers run: the survivor completes every id; only ids finished before the kill run twice', async () => {
    env = await testEnv('kill');
    const ids = Array.from({ length: 300 }, (_, i) => `job-${i}`);
    const prefetch = 20;
    const args = startArgs({
      queue: env.queue,
      prefix: env.prefix,
      handler: LEDGER_HANDLER,
      extra: ['--threads', '2', '--prefetch', String(prefetch), '--lock-ttl', '1s'],
    });
    const victim = spawnCli(args);
    const survivor = spawnCli(args);
    await Promise.all([victim.waitForLog('replica started'), survivor.waitForLog('replica started')]);
    const victimPid = victim.child.pid!;
    // Published once both consume, so the broker shares the work however slow a start-up was.
    await publishRaw(env.ch, env.queue, [...ids, ...ids].map((id) => body(id, { ledger: env.ledger, sleepMs: 20 })));

    await waitFor(() => readLedger(env.ledger).filter((l) => l.ev === 'done' && l.pid === victimPid).length >= 30, 30_000, 'victim at work');
    victim.child.kill('SIGKILL');
    await victim.exited;

    await waitFor(async () => executions(env.ledger).size === ids.length && (await env.ch.checkQueue(env.queue)).messageCount === 0, 60_000, 'every id executed');
    survivor.child.kill('SIGTERM');
    expect(await survivor.exited).toBe(0);

    const counts = executions(env.ledger);
    expect(counts.size).toBe(ids.length);
    const ledger = readLedger(env.ledger);
    const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    for (const id of twice) {
      // The window no lock can close: the victim's handler finished, then it died before recording completion.
      const runs = ledger.filter((l) => l.ev === 'done' && l.id === id);
      expect(runs.length).toBe(2);
      expect(runs.some((l) => l.pid === victimPid)).toBe(true);
    }
    // At most the victim's in-flight window can be in that state.
    expect(twice.length).toBeLessThanOrEqual(prefetch);
  });

  it('crash after the completion record but before the ack: the redelivery is acked as a duplicate', async () => {
    env = await testEnv('after-complete');
    await publishRaw(env.ch, env.queue, [body('paid-1', { ledger: env.ledger })]);

    // A consumer takes the message, records completion exactly as a replica would, then dies without acking.
    // The replica's default window: records are found in the time slots that window names.
    const store = new DedupStore([connectRedis(REDIS_URL)], { keys: keysFor(env.prefix, env.queue), lockTtlMs: 5000, dedupTtlMs: 24 * 3600_000 });
    await waitFor(() => store.healthy(), 5000, 'redis');
    const conn = await amqp.connect(AMQP_URL);
    const ch = await conn.createChannel();
    const msg = await ch.get(env.queue, { noAck: false });
    expect(msg).not.toBe(false);
    const begun = await store.begin('paid-1');
    expect(begun.state).toBe('acquired');
    if (begun.state !== 'acquired') return;
    if (!msg) return;
    expect(await store.complete(begun.lease, encodeRecord(fingerprint(msg.content), undefined, 256))).toBe(true);
    await conn.close(); // unacked: the broker requeues it as redelivered
    await store.close();

    const replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, logLevel: 'silent' }).start();
    try {
      await waitFor(() => replica.stats.deliveries === 1 && replica.stats.inFlight === 0, 20_000, 'redelivery handled');
      expect(replica.stats.duplicates.done).toBe(1);
      expect(replica.stats.completed).toBe(0);
      expect(readLedger(env.ledger)).toEqual([]);
      expect((await env.ch.checkQueue(env.queue)).messageCount).toBe(0);
    } finally {
      await replica.stop();
    }
  });
});
