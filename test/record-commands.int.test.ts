/**
 * What a new id costs in Redis (counted by the server, on one of the test's own), and the
 * reads of records written by earlier versions: done only while such records can exist.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DedupStore, connectRedis, encodeRecord, fingerprint, keysFor } from '../src/index.js';
import { claimLayout, layoutOf } from '../src/store/layout.js';
import { startRedisServer, type RedisServer } from './helpers/redis-servers.js';
import { waitFor } from './helpers/services.js';

const DAY = 24 * 3600_000;

describe('Redis commands per new id', () => {
  let server: RedisServer;
  let probe: Redis;
  const stores: DedupStore[] = [];
  beforeAll(async () => {
    server = await startRedisServer();
    probe = new Redis(server.url);
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    probe.disconnect();
    await server.kill();
  });
  const storeWith = async (scope: string, dedupTtlMs: number, buckets = 1024): Promise<DedupStore> => {
    const store = new DedupStore([connectRedis(server.url)], { keys: keysFor('cmd', scope, { buckets }), lockTtlMs: 5000, dedupTtlMs });
    stores.push(store);
    await waitFor(() => store.healthy(), 5000, 'redis');
    return store;
  };
  const commandCounts = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const m of (await probe.info('commandstats')).matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
    return out;
  };
  const runIds = async (store: DedupStore, ids: string[]): Promise<void> => {
    const begun = await store.beginMany(ids);
    const leases = begun.map((b) => {
      if (b instanceof Error || b.state !== 'acquired') throw new Error(`expected a lease, got ${b instanceof Error ? b.message : b.state}`);
      return b.lease;
    });
    const done = await store.completeMany(leases.map((lease) => ({ lease, record: encodeRecord(fingerprint(Buffer.from(lease.id)), undefined, 64) })));
    expect(done.every((d) => d === true)).toBe(true);
  };

  // 3 HGET (the slots of the window) and SET NX GET (lease and grant counter, one key); GET
  // (lease), HSET (record), DEL (lease). Layouts of format 1 (earlier versions) keep the lease
  // and the counter apart: one SET NX more at begin. A 60-day window: slots of 30 days, so the
  // next slot (looked at in the last 5 minutes of one) is hardly ever in play.
  it.each([
    { format: 2, sets: 1, perId: 7 },
    { format: 1, sets: 2, perId: 8 },
  ])('a new id, begun and completed in batches, costs $perId commands inside the scripts in layout format $format, and PEXPIREAT once per record hash', async ({ format, sets, perId }) => {
    const window = 60 * DAY;
    const store = await storeWith(`count${format}`, window, 16);
    store.useLayout({ slotMs: window / 2, compatUntil: 0, format });
    const ids = Array.from({ length: 400 }, (_, i) => `count-${i}`);
    await probe.config('RESETSTAT');
    for (let i = 0; i < ids.length; i += 20) await runIds(store, ids.slice(i, i + 20));
    const c = await commandCounts();
    const [s] = await probe.time();
    const nearNextSlot = (Math.floor((Number(s) * 1000) / (window / 2)) + 1) * (window / 2) - Number(s) * 1000 < 330_000;
    const perCall = (c.evalsha ?? 0) + (c.eval ?? 0) + (c.time ?? 0) + (c.pexpireat ?? 0) + (c.config ?? 0) + (c.info ?? 0);
    const total = Object.values(c).reduce((a, b) => a + b, 0);
    expect({ hget: c.hget, set: c.set, get: c.get, hset: c.hset, del: c.del }).toEqual({ hget: (nearNextSlot ? 4 : 3) * 400, set: sets * 400, get: 400, hset: 400, del: 400 });
    expect((total - perCall) / ids.length).toBeLessThanOrEqual(nearNextSlot ? perId + 1 : perId);
    // 16 record hashes: each one's expiry set once by this store, not once per id.
    expect(c.pexpireat).toBeLessThanOrEqual(16);
    expect(c.incr ?? 0).toBe(0);
    expect(c.pexpire ?? 0).toBe(0);
    for (const hash of await probe.keys(`cmd:count${format}:r:*`)) expect(await probe.pttl(hash)).toBeGreaterThan(window);
    // Nothing of the leases is left: every id's lease and counter ended with its record.
    expect(await probe.keys(`cmd:count${format}:l*`)).toEqual([]);
    expect(await probe.keys(`cmd:count${format}:f*`)).toEqual([]);
  });

  it('a record hash emptied by forget keeps its expiry: a later record in it still expires', async () => {
    const store = await storeWith('forget', 60_000, 1);
    store.useLayout({ slotMs: 30_000, compatUntil: 0 });
    await runIds(store, ['f-1']);
    expect(await store.forget('f-1')).toBe('forgotten');
    const [hash] = await probe.keys('cmd:forget:r:*');
    expect(await probe.pttl(hash!)).toBeGreaterThan(0);
    // The store remembers it set this hash's expiry and does not set it again.
    await probe.config('RESETSTAT');
    await runIds(store, ['f-2']);
    expect((await commandCounts()).pexpireat ?? 0).toBe(0);
    expect(await probe.pttl(hash!)).toBeGreaterThan(0);
    expect(await probe.hget(hash!, keysFor('cmd', 'forget', { buckets: 1 }).id('f-2').field)).not.toBeNull();
  });

  it("records of earlier versions (a key of their own without a mark, the key of versions before scopes) are read until the layout's compat time", async () => {
    const store = await storeWith('compat', 60_000);
    const keys = keysFor('cmd', 'compat');
    const own = (id: string): string => `${keys.prefixes[1]}${keys.id(id).tag}:${keys.id(id).part}`;
    await probe.set(own('old-own'), `${fingerprint(Buffer.from('old-own'))}:${JSON.stringify('x'.repeat(80))}`, 'PX', 60_000);
    await probe.set(`cmd:done:old-legacy`, fingerprint(Buffer.from('old-legacy')), 'PX', 60_000);
    store.useLayout({ slotMs: 30_000, compatUntil: Date.now() + 60_000 });
    expect((await store.begin('old-own')).state).toBe('done');
    expect((await store.begin('old-legacy')).state).toBe('done');
    // The compat time passed (plus the replica's clock allowance): they are no longer looked for.
    store.useLayout({ slotMs: 30_000, compatUntil: Date.now() - 61_000 });
    expect((await store.begin('old-own')).state).toBe('acquired');
    expect((await store.begin('old-legacy')).state).toBe('acquired');
  });

  it("the first replica of a scope stores until when earlier versions' records may exist: none found, none read", async () => {
    // A prefix of its own: legacy keys (<prefix>:done:<id>) of the test above are prefix-wide.
    const place = (scope: string) => ({ prefix: 'lay', queue: scope, scope, names: ['r'] });
    const want = layoutOf({ dedupTtlMs: 60_000, dedupBuckets: 1024 });
    // A new scope with no keys under it.
    const fresh = await storeWith('fresh', 60_000);
    expect(await claimLayout(fresh, keysFor('lay', 'fresh'), want, place('fresh'))).toEqual({ slotMs: 30_000, compatUntil: 0, format: 2 });
    // A scope an earlier version ran (a record hash of it is there): its records are read for a window.
    await probe.hset('lay:ran:r:{1}:7', 'field', 'record');
    const ran = await storeWith('ran', 60_000);
    const t0 = Date.now();
    const use = await claimLayout(ran, keysFor('lay', 'ran'), want, place('ran'));
    expect(use.compatUntil).toBeGreaterThanOrEqual(t0 + 60_000 - 1000);
    expect(use.compatUntil).toBeLessThanOrEqual(Date.now() + 60_000 + 1000);
    // A layout stored by an earlier version: 4 slots a window, no compat time. Its slots are kept.
    await probe.hset('lay:old:layout', 'format', 1, 'window', 60_000, 'slot', 15_000, 'buckets', 1024, 'set_at', t0 - DAY);
    const old = await storeWith('old', 60_000);
    const kept = await claimLayout(old, keysFor('lay', 'old'), want, place('old'));
    expect(kept.slotMs).toBe(15_000);
    expect(kept.format).toBe(1); // and its lease keys
    expect(kept.compatUntil).toBeGreaterThanOrEqual(t0 + 60_000 - 1000);
    expect(Number(await probe.hget('lay:old:layout', 'compat_until'))).toBe(kept.compatUntil);
  });
});
