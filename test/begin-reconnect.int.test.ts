/**
 * A begin that times out while its connection is down: nothing it left behind holds
 * the id once Redis is back (no lease nobody holds, no attempt counted).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DedupStore, connectRedis, keysFor } from '../src/index.js';
import { startRedisServer, type RedisServer } from './helpers/redis-servers.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import { waitFor } from './helpers/services.js';
import { leaseHeld, readLease } from './helpers/leases.js';

const REDIS_PORT = 7310;
const PROXY_PORT = 7311;

describe('a begin that times out across a reconnect', () => {
  let server: RedisServer;
  let proxy: TcpProxy;
  let probe: Redis;
  beforeAll(async () => {
    server = await startRedisServer(REDIS_PORT);
    proxy = await startTcpProxy(REDIS_PORT, '127.0.0.1', PROXY_PORT);
    probe = new Redis(server.url);
  });
  afterEach(() => {
    proxy.mode = 'pass';
    proxy.refusing = false;
  });
  afterAll(async () => {
    probe.disconnect();
    await proxy.close();
    await server.kill();
  });

  /** Begin `id` while the proxy is in `mode`; the connection drops before the 300 ms timeout and stays down `downMs` past it. */
  const beginAcrossACut = async (store: DedupStore, id: string, mode: TcpProxy['mode'], downMs: number): Promise<void> => {
    proxy.mode = mode;
    const begun = store.beginMany([id]);
    await sleep(100);
    proxy.refusing = true;
    proxy.reset();
    const [failed] = await begun;
    expect(failed).toBeInstanceOf(Error);
    // Still down when the begin has failed; then Redis is reachable again.
    await sleep(downMs);
    proxy.mode = 'pass';
    proxy.refusing = false;
    await waitFor(() => store.healthy(), 10_000, 'reconnected');
    await sleep(300);
  };

  const storeVia = (scope: string, lockTtlMs: number): { store: DedupStore; keys: ReturnType<typeof keysFor> } => {
    const keys = keysFor('br', scope);
    return { store: new DedupStore([connectRedis(`redis://127.0.0.1:${PROXY_PORT}`, {}, 300)], { keys, lockTtlMs, dedupTtlMs: 60_000 }), keys };
  };

  it('is not sent again after the reconnect (it never reached Redis), even after an outage longer than a lease', async () => {
    // Down for longer than the lease: nothing undoes a grant the client would make on reconnecting.
    const { store, keys } = storeVia('resend', 1000);
    try {
      await waitFor(() => store.healthy(), 5000, 'redis');
      await beginAcrossACut(store, 'r-1', 'hold', 1500);
      expect(await probe.exists(keys.lock('r-1'))).toBe(0);
      expect(await probe.exists(keys.fence('r-1'))).toBe(0);
      const again = await store.begin('r-1');
      expect(again.state).toBe('acquired');
      if (again.state === 'acquired') expect(again.lease.fence).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('is undone once Redis is back when it ran but its answer was lost', async () => {
    const { store, keys } = storeVia('lost-answer', 30_000);
    try {
      await waitFor(() => store.healthy(), 5000, 'redis');
      await beginAcrossACut(store, 'l-1', 'mute', 300);
      await waitFor(async () => (await readLease(probe, keys.lock('l-1'))).grants === 0 && !(await leaseHeld(probe, keys.lock('l-1'))), 5000, 'the orphan grant undone');
      const again = await store.begin('l-1');
      expect(again.state).toBe('acquired'); // not 'locked' for the 30 s of the orphan lease
      if (again.state === 'acquired') expect(again.lease.fence).toBe(1);
    } finally {
      await store.close();
    }
  });
});
