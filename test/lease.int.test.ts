import { afterEach, describe, expect, it } from 'vitest';
import { Replica } from '../src/index.js';
import { LEDGER_HANDLER, REDIS_URL, body, executions, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { idState } from './helpers/records.js';
import { keysFor } from '../src/store/keys.js';
import { leaseHeld } from './helpers/leases.js';

describe('leases and completion records', () => {
  let env: TestEnv;
  let replicas: Replica[] = [];
  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    replicas = [];
    await env.cleanup();
  });

  const start = async (extra: Record<string, unknown> = {}): Promise<Replica> => {
    const r = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, logLevel: 'silent', ...extra }).start();
    replicas.push(r);
    return r;
  };

  it('a handler longer than its lease keeps the lease extended; the second replica never runs it', async () => {
    env = await testEnv('lease');
    const a = await start({ lockTtlMs: 600 });
    const b = await start({ lockTtlMs: 600 });
    // Two copies, so both replicas get one; the handler takes over three lease lengths.
    await publishRaw(env.ch, env.queue, [body('slow-1', { ledger: env.ledger, sleepMs: 2000 }), body('slow-1', { ledger: env.ledger, sleepMs: 2000 })]);

    await waitFor(() => a.stats.deliveries + b.stats.deliveries === 2 && a.stats.inFlight + b.stats.inFlight === 0, 30_000, 'both copies settled');
    expect(a.stats.deliveries).toBe(1);
    expect(b.stats.deliveries).toBe(1);
    expect(readLedger(env.ledger).filter((l) => l.ev === 'start')).toHaveLength(1);
    expect(executions(env.ledger).get('slow-1')).toBe(1);
    expect(a.stats.leaseExtensions + b.stats.leaseExtensions).toBeGreaterThanOrEqual(3);
    expect(a.stats.leaseLost + b.stats.leaseLost).toBe(0);
    expect(a.stats.duplicates['in-flight'] + b.stats.duplicates['in-flight']).toBe(1);
  });

  it('the completion record lives for the dedup window; lock and counter are gone', async () => {
    env = await testEnv('ttl');
    const r = await start({ dedupTtlMs: '90m' });
    await publishRaw(env.ch, env.queue, [body('ttl-1', { ledger: env.ledger })]);
    await waitFor(() => r.stats.completed === 1, 20_000, 'completion');

    const state = await idState(REDIS_URL, env.prefix, env.queue, 'ttl-1', { dedupTtlMs: 90 * 60_000 });
    // At least the window, at most the window and one slot (half of it).
    expect(state.recordTtlMs).toBeGreaterThan(90 * 60_000 - 10_000);
    expect(state.recordTtlMs).toBeLessThanOrEqual(90 * 60_000 * 1.5);
    // The body's fingerprint, then the handler's (small) result.
    expect(state.record).toMatch(/^[\w-]{12}:\{"attempt":1\}$/);
    const keys = keysFor(env.prefix, env.queue);
    expect(await env.redis.exists(keys.lock('ttl-1'), keys.fence('ttl-1'))).toBe(0);
  });
});

describe('drain timeout', () => {
  it('a handler still running when --drain-timeout passes is aborted; its message is requeued and its lease released', async () => {
    const env = await testEnv('drain-timeout');
    const replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, drainTimeoutMs: '300ms', lockTtlMs: '3s', logLevel: 'silent' }).start();
    try {
      await publishRaw(env.ch, env.queue, [body('long-1', { ledger: env.ledger, sleepMs: 10_000 })]);
      await waitFor(() => readLedger(env.ledger).some((l) => l.ev === 'start'), 10_000, 'handler started');
      const started = Date.now();
      await replica.stop();
      expect(Date.now() - started).toBeLessThan(5000);
      expect(readLedger(env.ledger).filter((l) => l.ev === 'done')).toEqual([]);
      expect(replica.stats.requeued).toBe(1);
      await waitFor(async () => (await env.ch.checkQueue(env.queue)).messageCount === 1, 5000, 'message back in the queue');
      expect(await leaseHeld(env.redis, keysFor(env.prefix, env.queue).lock('long-1'))).toBe(false);
    } finally {
      await env.cleanup();
    }
  });
});
