/** Compact completion records: their memory, the exact dedup window, and records too long for a hash entry. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { DedupStore, connectRedis, encodeRecord, fingerprint, keysFor, type Lease } from '../src/index.js';
import { SLOTS_PER_WINDOW } from '../src/store/dedup-store.js';
import { NO_LEASE } from '../src/replica/item.js';
import { measureRecordSize } from '../bench/lib/record-size.js';
import { startRedisServer, type RedisServer } from './helpers/redis-servers.js';
import { waitFor } from './helpers/services.js';

describe('compact completion records', () => {
  let server: RedisServer;
  let probe: Redis;
  const stores: DedupStore[] = [];
  beforeAll(async () => {
    // A server of its own: used_memory must move only with these records.
    server = await startRedisServer();
    probe = new Redis(server.url);
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    probe.disconnect();
    await server.kill();
  });
  const storeWith = async (scope: string, dedupTtlMs: number): Promise<DedupStore> => {
    const store = new DedupStore([connectRedis(server.url)], { keys: keysFor('rec', scope), lockTtlMs: 5000, dedupTtlMs });
    stores.push(store);
    await waitFor(() => store.healthy(), 5000, 'redis');
    return store;
  };
  const completeOne = async (store: DedupStore, id: string, result?: string): Promise<void> => {
    const b = await store.begin(id);
    if (b.state !== 'acquired') throw new Error(`expected a lease, got ${b.state}`);
    expect(await store.complete(b.lease, encodeRecord(fingerprint(Buffer.from(id)), result, 1024))).toBe(true);
  };

  it('cost at most 64 bytes of Redis memory each (20,000 UUID ids, no result)', async () => {
    const store = await storeWith('size', 24 * 3600_000);
    const size = await measureRecordSize(store, [probe], 20_000, 0);
    expect(size.bytesPerRecord).toBeLessThanOrEqual(64);
    // The hashes themselves (what grows with the ids; the rest is the write stream's fixed cost).
    expect(size.keyBytesPerRecord).toBeLessThanOrEqual(48);
    // One small hash per bucket, not a key per id.
    expect(size.keys).toBeLessThanOrEqual(1024);
  });

  it('the empty lease items share is never written to: a store names its keys for each call', async () => {
    const store = await storeWith('empty-lease', 60_000);
    // Released and extended as a drain or a failure before begin would: no lease of ours, nothing cached on it.
    await store.release(NO_LEASE, 'keep');
    expect(await store.extend(NO_LEASE)).toBe(false);
    expect(NO_LEASE.key).toBeUndefined();
  });

  it('a complete call repeated after it failed part-way counts what it wrote as written, and nothing else', async () => {
    // In a Redis Cluster a script that stops on a moved slot keeps the writes it made: the
    // store calls it again for those ids with the "cut short" flag. Played here on one Redis.
    const ttl = 60_000;
    const keys = keysFor('rec', 'retry');
    const store = await storeWith('retry', ttl);
    const client = connectRedis(server.url);
    await new Promise((ready) => client.once('ready', ready));
    // The shared arguments (earlier versions' records not read), then: cut short, the caller's slot.
    const shared = [...keys.prefixes, ttl, Math.ceil(ttl / SLOTS_PER_WINDOW), '0'];
    const noSlot = -1;
    const leaseOf = async (id: string) => {
      const b = await store.begin(id);
      if (b.state !== 'acquired') throw new Error(`expected a lease, got ${b.state}`);
      return b.lease;
    };
    // The ids packed as complete.lua reads them, then their records.
    const argsOf = (...calls: [Lease, string][]) => [
      calls.map(([lease]) => `${keys.id(lease.id).field}${keys.id(lease.id).tag} ${keys.id(lease.id).part} ${lease.token} ${lease.fences[0]!} 0 `).join(''),
      ...calls.map(([, record]) => record),
    ];
    const [mine, other] = [await leaseOf('retry-1'), await leaseOf('retry-2')];
    const recordOf = (id: string) => encodeRecord(fingerprint(Buffer.from(id)), undefined, 1024);
    // The first try wrote both records (their leases ended with it), then stopped. (2: written
    // in a slot other than the caller's, which named none.)
    expect(await client.dedupComplete(keys.id('retry-1').tag, ...shared, '0', noSlot, ...argsOf([mine, recordOf('retry-1')], [other, recordOf('retry-2')]))).toEqual([2, 2]);
    // Repeated as a retry: each id whose record is there, exactly as written, counts as written.
    expect(await client.dedupComplete(keys.id('retry-1').tag, ...shared, '1', noSlot, ...argsOf([mine, recordOf('retry-1')], [other, 'another body:x']))).toEqual([2, 0]);
    // Not a retry: a lease that is gone is another run's business, whatever the record says.
    expect(await client.dedupComplete(keys.id('retry-1').tag, ...shared, '0', noSlot, ...argsOf([mine, recordOf('retry-1')]))).toEqual([0]);
    client.disconnect();
  });

  it('a record longer than a hash entry takes a key of its own, marked in the slot hash, and is still found', async () => {
    const store = await storeWith('big', 60_000);
    const result = JSON.stringify({ text: 'x'.repeat(200) });
    await completeOne(store, 'big-1', result);
    const state = await store.inspect('big-1');
    expect(state.record).toBe(`${fingerprint(Buffer.from('big-1'))}:${result}`);
    expect(state.recordTtlMs).toBeGreaterThan(50_000);
    expect(state.recordTtlMs).toBeLessThanOrEqual(60_000);
    expect(await store.begin('big-1')).toMatchObject({ state: 'done' });
    const own = await probe.keys('rec:big:done:*');
    expect(own).toHaveLength(1);
    // The mark: a lookup finds it among the slot hashes, with no GET for ids that have none.
    const [hash] = await probe.keys('rec:big:r:*');
    expect(Object.values(await probe.hgetall(hash!))).toEqual(['=']);
  });

  it('the window: a record is found for at least --dedup-ttl and gone by --dedup-ttl plus a half', async () => {
    // Margins of over half a second either side, so a stall of this machine cannot decide the test.
    const ttl = 4000;
    const margin = 600;
    const store = await storeWith('window', ttl);
    const started = Date.now(); // the record is written after this...
    await completeOne(store, 'w-1');
    const written = Date.now(); // ...and before this
    const left = (await store.inspect('w-1')).recordTtlMs!;
    expect(left).toBeGreaterThan(ttl - margin);
    expect(left).toBeLessThanOrEqual(ttl * 1.5);
    await new Promise((r) => setTimeout(r, Math.max(0, started + ttl - margin - Date.now())));
    expect((await store.begin('w-1')).state).toBe('done');
    await new Promise((r) => setTimeout(r, Math.max(0, written + ttl * 1.5 + margin - Date.now())));
    expect((await store.inspect('w-1')).record).toBeUndefined();
    expect((await store.begin('w-1')).state).toBe('acquired');
  });
});
