import { afterEach, describe, expect, it } from 'vitest';
import { DedupStore, Replica, connectRedis, keysFor } from '../src/index.js';
import { LEDGER_HANDLER, REDIS_URL, body, executions, publishRaw, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { startRedisServer, type RedisServer } from './helpers/redis-servers.js';
import { idState } from './helpers/records.js';
import { readLease } from './helpers/leases.js';

describe('Redlock quorum over 3 independent Redis masters', () => {
  let env: TestEnv;
  let extra: RedisServer[] = [];
  let replicas: Replica[] = [];
  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    replicas = [];
    await Promise.all(extra.map((s) => s.kill()));
    extra = [];
    await env.cleanup();
  });

  /** A store over the machine's Redis and two of the test's own (env must be set). */
  async function threeMasters() {
    extra = [await startRedisServer(), await startRedisServer()];
    const clients = [connectRedis(REDIS_URL), ...extra.map((s) => connectRedis(s.url))];
    const store = new DedupStore(clients, { keys: keysFor(env.prefix, env.queue), lockTtlMs: 5000, dedupTtlMs: 60_000 });
    await waitFor(() => clients.every((c) => c.status === 'ready'), 5000, 'redis');
    return { clients, store };
  }

  it('killing one of three mid-run lets no duplicate execution through and loses nothing', async () => {
    env = await testEnv('quorum');
    extra = [await startRedisServer(), await startRedisServer()];
    const redisUrls = [REDIS_URL, ...extra.map((s) => s.url)];
    const ids = Array.from({ length: 600 }, (_, i) => `q-${i}`);
    await publishRaw(env.ch, env.queue, [...ids, ...ids].map((id) => body(id, { ledger: env.ledger, sleepMs: 3 })));
    const opts = { queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, prefetch: 20, redisUrls, logLevel: 'silent' as const };
    replicas = [await new Replica(opts).start(), await new Replica(opts).start()];

    await waitFor(() => executions(env.ledger).size >= 150, 30_000, 'a quarter done');
    await extra[1]!.kill();

    await waitFor(async () => executions(env.ledger).size === ids.length && (await env.ch.checkQueue(env.queue)).messageCount === 0, 60_000, 'every id executed');
    await waitFor(() => replicas.every((r) => r.stats.inFlight === 0), 10_000, 'settled');
    expect([...executions(env.ledger)].filter(([, n]) => n > 1)).toEqual([]);
    const total = replicas.reduce((n, r) => n + r.stats.completed, 0);
    expect(total).toBe(ids.length);
    // Completion records were written to the surviving majority.
    expect((await idState(extra[0]!.url, env.prefix, env.queue, 'q-599')).record).toBeDefined();
    expect((await idState(REDIS_URL, env.prefix, env.queue, 'q-599')).record).toBeDefined();
  });

  it('fencing tokens keep growing when an instance comes back empty', async () => {
    env = await testEnv('fence');
    const { clients, store } = await threeMasters();
    try {
      const tokens: number[] = [];
      for (let i = 0; i < 3; i++) {
        const b = await store.begin('f-1');
        if (b.state !== 'acquired') throw new Error(`expected a lease, got ${b.state}`);
        tokens.push(b.lease.fence);
        await store.release(b.lease);
      }
      // Instance 0 loses its data (restart without persistence); the next token must still be higher.
      const fence = keysFor(env.prefix, env.queue).fence('f-1');
      await clients[0]!.del(fence);
      await clients[1]!.del(fence);
      const b = await store.begin('f-1');
      if (b.state !== 'acquired') throw new Error(`expected a lease, got ${b.state}`);
      tokens.push(b.lease.fence);
      expect(tokens).toEqual([1, 2, 3, 4]);
      expect((await readLease(clients[0]!, fence)).grants).toBe(4);
    } finally {
      await store.close();
    }
  });

  it('a grant whose counters disagree is refused unless a quorum of them can be lifted to its token', async () => {
    env = await testEnv('fence-lift');
    const { clients, store } = await threeMasters();
    const fence = keysFor(env.prefix, env.queue).fence('l-1');
    const counters = async () => Promise.all(clients.map(async (c) => (await readLease(c, fence)).grants));
    // The lift of a counter fails as if its instance had just gone away.
    type Raise = { dedupRaise: (...a: unknown[]) => Promise<unknown> };
    const liftFails = (i: number) => {
      const c = clients[i] as unknown as Raise;
      const real = c.dedupRaise.bind(c);
      c.dedupRaise = () => Promise.reject(new Error('connection lost'));
      return () => void (c.dedupRaise = real);
    };
    try {
      await clients[0]!.set(fence, '3'); // instances 1 and 2 came back empty: the grant's token is 4
      const back = [liftFails(1), liftFails(2)];
      const refused = await store.beginMany(['l-1']);
      expect(refused[0]).toBeInstanceOf(Error);
      expect(String(refused[0])).toMatch(/could not be lifted to token 4/);
      expect(await counters()).toEqual([3, 0, 0]); // the refused grant was given back everywhere
      back[0]!(); // instance 1 answers again: with instance 0 a quorum holds the token
      const b = await store.begin('l-1');
      if (b.state !== 'acquired') throw new Error(`expected a lease, got ${b.state}`);
      expect(b.lease.fence).toBe(4);
      expect(await counters()).toEqual([4, 4, 1]);
      back[1]!();
    } finally {
      await store.close();
    }
  });
});
