/** A begin whose answer is lost to a timeout: the grant it made later is undone, not left to expire. */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DedupStore, connectRedis, keysFor } from '../src/index.js';
import { startRedisServer, type RedisServer } from './helpers/redis-servers.js';
import { waitFor } from './helpers/services.js';
import { leaseHeld, readLease } from './helpers/leases.js';

describe('a begin that times out', () => {
  let server: RedisServer;
  beforeAll(async () => {
    // A server of its own: the test pauses it.
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server.kill();
  });

  it('gives back the lease and the attempt it granted once Redis caught up, so the redelivery runs at once', async () => {
    const keys = keysFor('bt', 'timeout');
    const client = connectRedis(server.url, {}, 300);
    const store = new DedupStore([client], { keys, lockTtlMs: 30_000, dedupTtlMs: 60_000 });
    const probe = new Redis(server.url);
    try {
      await waitFor(() => store.healthy(), 5000, 'redis');
      // Every command waits 1 s; the begin's answer comes after its 300 ms timeout.
      await probe.call('CLIENT', 'PAUSE', '1000', 'ALL');
      const [failed] = await store.beginMany(['t-1']);
      expect(failed).toBeInstanceOf(Error);
      // Redis ran the begin after the pause (a lease nobody holds), then the release behind it.
      await waitFor(async () => (await readLease(probe, keys.lock('t-1'))).grants === 0 && !(await leaseHeld(probe, keys.lock('t-1'))), 10_000, 'the orphan grant undone');
      const again = await store.begin('t-1');
      expect(again.state).toBe('acquired'); // not 'locked' for the 30 s of the orphan lease
      if (again.state === 'acquired') expect(again.lease.fence).toBe(1); // the lost grant cost no attempt
    } finally {
      probe.disconnect();
      await store.close();
    }
  });
});
