/**
 * A replica cut from Redis while its handler runs cannot renew the lease. Its thread
 * must be gone before Redis expires the lease (from then on another replica may start
 * the id), even when the handler ignores its signal (CPU-bound).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Replica } from '../src/index.js';
import { keysFor } from '../src/store/keys.js';
import { AMQP_URL, LEDGER_HANDLER, REDIS_URL, body, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import { leaseHeld } from './helpers/leases.js';

describe('a lease lost while its handler ignores the signal', () => {
  let env: TestEnv | undefined;
  let proxy: TcpProxy | undefined;
  let replica: Replica | undefined;
  afterEach(async () => {
    proxy?.heal();
    await replica?.stop();
    await proxy?.close();
    await env?.cleanup();
  });

  it('the thread is stopped before the lease can expire in Redis', async () => {
    env = await testEnv('lease-loss');
    proxy = await startTcpProxy(Number(new URL(REDIS_URL).port || 6379));
    replica = await new Replica({
      amqpUrl: AMQP_URL,
      redisUrls: [proxy.url(REDIS_URL)],
      queue: env.queue,
      prefix: env.prefix,
      handler: LEDGER_HANDLER,
      threads: 1,
      lockTtlMs: '3s',
      logLevel: 'silent',
    }).start();
    const lock = keysFor(env.prefix, env.queue).lock('spin-1');
    await publishRaw(env.ch, env.queue, [body('spin-1', { ledger: env.ledger, spinMs: 15_000, spinTickMs: 20 })]);
    await waitFor(() => readLedger(env!.ledger).some((l) => l.ev === 'start'), 20_000, 'handler started');
    proxy.cut(); // renewals cannot arrive from now on
    expect(await leaseHeld(env.redis, lock)).toBe(true);

    // From the moment the key is gone, another replica may run the id.
    let expiredAt = 0;
    await waitFor(async () => !(await leaseHeld(env!.redis, lock)) && (expiredAt = Date.now()) > 0, 10_000, 'lease expired in Redis');
    await new Promise((r) => setTimeout(r, 500));
    const ticks = readLedger(env.ledger).filter((l) => l.ev === 'tick');
    expect(ticks.length).toBeGreaterThan(10);
    expect(Math.max(...ticks.map((l) => l.t))).toBeLessThan(expiredAt);
    expect(replica.stats.leaseLost).toBe(1);
  });
});
