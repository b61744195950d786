/**
 * Lease key formats (src/store/lua/leases.lib.lua): format 2 keeps an id's lease and grant
 * counter in one key; scopes an earlier version stored (format 1) keep the two apart, and
 * a replica of this version runs them so, side by side with replicas of that version;
 * `layout set` moves a stopped scope to format 2, its running leases and counters with it.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { DedupStore, Replica, connectRedis, keysFor, type Lease } from '../src/index.js';
import { AMQP_URL, LEDGER_HANDLER, REDIS_URL, body, executions, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { spawnCli } from './helpers/processes.js';
import { readLease } from './helpers/leases.js';

const WINDOW_MS = 60_000;

describe('lease key formats', () => {
  let env: TestEnv | undefined;
  let replica: Replica | undefined;
  let store: DedupStore | undefined;
  afterEach(async () => {
    await replica?.stop();
    await store?.close();
    await env?.cleanup();
    [env, replica, store] = [undefined, undefined, undefined];
  });

  /** The layout an earlier version stored for the test's scope: format 1. */
  const storeFormat1Layout = async (redis: Redis, prefix: string, scope: string): Promise<void> => {
    await redis.hset(`${prefix}:${scope}:layout`, 'format', 1, 'window', WINDOW_MS, 'slot', WINDOW_MS / 2, 'buckets', 1024, 'set_at', Date.now(), 'compat_until', 0);
  };
  const acquired = async (s: DedupStore, id: string): Promise<Lease> => {
    const b = await s.begin(id);
    if (b.state !== 'acquired') throw new Error(`expected a lease for ${id}, got ${b.state}`);
    return b.lease;
  };

  it.each([1, 2])('format %i: grants, extensions, releases, take-overs and completions keep the same counts', async (format) => {
    env = await testEnv(`lf-store-${format}`);
    const keys = keysFor(env.prefix, env.queue).withFormat(format);
    store = new DedupStore([connectRedis(REDIS_URL)], { keys, lockTtlMs: 2000, dedupTtlMs: WINDOW_MS });
    store.useLayout({ slotMs: WINDOW_MS / 2, compatUntil: 0, format });
    await waitFor(() => store!.healthy(), 5000, 'redis');
    const counter = async (id: string): Promise<number> => Number((await env!.redis.get(keys.fence(id)))?.split(' ')[0] ?? 0);

    // A grant counts an attempt; a second begin finds the lease held, with its token.
    const first = await acquired(store, 'x');
    expect(first.fence).toBe(1);
    const busy = await store.begin('x');
    expect(busy).toMatchObject({ state: 'locked' });
    if (busy.state === 'locked') expect(busy.retryInMs).toBeGreaterThan(1000);
    expect((await store.inspect('x')).lease?.token).toBe(first.token);
    // Extended: held past its first length.
    expect(await store.extend(first)).toBe(true);
    expect((await store.inspect('x')).lease!.ttlMs).toBeGreaterThan(1500);
    // Released keeping the attempt: the next grant is attempt 2; given back ("uncount"), it is not.
    await store.release(first, 'keep');
    expect(await store.extend(first)).toBe(false);
    const second = await acquired(store, 'x');
    expect(second.fence).toBe(2);
    await store.release(second, 'uncount');
    expect(await counter('x')).toBe(1);
    const third = await acquired(store, 'x');
    expect(third.fence).toBe(2);
    // A lease that ran out with nobody taking over still completes (the counter proves it was the last grant).
    await new Promise((r) => setTimeout(r, 2100));
    expect((await store.inspect('x')).lease).toBeUndefined();
    expect(await store.complete(third, 'rec')).toBe(true);
    expect(await store.begin('x')).toMatchObject({ state: 'done' });
    expect(await env.redis.exists(keys.lock('x'), keys.fence('x'))).toBe(0);

    // Dead-lettered ("reset"): the attempts start again; a lease taken over is not ours to complete.
    const y = await acquired(store, 'y');
    await store.release(y, 'reset');
    expect(await env.redis.exists(keys.fence('y'))).toBe(0);
    const y2 = await acquired(store, 'y');
    expect(y2.fence).toBe(1);
    await new Promise((r) => setTimeout(r, 2100));
    const y3 = await acquired(store, 'y');
    expect(y3.fence).toBe(2);
    expect(await store.complete(y2, 'stale')).toBe(false);
    expect(await store.forget('y')).toBe('leased');
    expect(await store.complete(y3, 'rec')).toBe(true);
    expect(await store.forget('y')).toBe('forgotten');
    expect((await acquired(store, 'y')).fence).toBe(1);
  });

  it('a scope an earlier version stored runs with its two lease keys: a lease that version holds is waited for, its counter goes on', async () => {
    env = await testEnv('lf-old');
    await storeFormat1Layout(env.redis, env.prefix, env.queue);
    // A replica of the earlier version holds "held-1" (attempt 1) for 2 more seconds.
    const old = keysFor(env.prefix, env.queue).withFormat(1);
    const heldUntil = Date.now() + 2000;
    await env.redis.set(old.lock('held-1'), 'earlier-version-token', 'PX', 2000);
    await env.redis.set(old.fence('held-1'), '1', 'PX', WINDOW_MS);
    replica = await new Replica({ amqpUrl: AMQP_URL, redisUrls: [REDIS_URL], queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, dedupTtlMs: '1m', logLevel: 'silent' }).start();
    await publishRaw(env.ch, env.queue, ['held-1', 'new-1'].map((id) => body(id, { ledger: env!.ledger })));
    await waitFor(() => executions(env!.ledger).size === 2, 20_000, 'both ids run');
    const started = new Map(readLedger(env.ledger).filter((l) => l.ev === 'start').map((l) => [l.id, l]));
    expect(started.get('held-1')!.t).toBeGreaterThanOrEqual(heldUntil - 50);
    expect(started.get('held-1')!.fence).toBe(2);
    expect(started.get('new-1')!.fence).toBe(1);
    expect(await env.redis.keys(`${env.prefix}:${env.queue}:lease:*`)).toEqual([]);
    expect([...executions(env.ledger).values()]).toEqual([1, 1]);
  });

  it('layout set moves a stopped scope to one key per id: a lease still running and the counters carry over', async () => {
    env = await testEnv('lf-move');
    await storeFormat1Layout(env.redis, env.prefix, env.queue);
    const [old, now] = [keysFor(env.prefix, env.queue).withFormat(1), keysFor(env.prefix, env.queue)];
    // "a": held by a replica that stopped without ending it (attempt 2); "b": 3 attempts, none running.
    const heldUntil = Date.now() + 3000;
    await env.redis.set(old.lock('a'), 'stopped-replica-token', 'PX', 3000);
    await env.redis.set(old.fence('a'), '2', 'PX', WINDOW_MS);
    await env.redis.set(old.fence('b'), '3', 'PX', WINDOW_MS);

    const change = spawnCli(['layout', 'set', '--queue', env.queue, '--prefix', env.prefix, '--redis', REDIS_URL, '--dedup-ttl', '1m']);
    expect(await change.exited).toBe(0);
    expect(change.lines.join('\n')).toMatch(/--dedup-ttl 1m -> 1m, 0 record\(s\) copied to the new time slots; format 1 -> 2, 2 lease\(s\) and grant counter\(s\) moved/);
    expect(await env.redis.hget(`${env.prefix}:${env.queue}:layout`, 'format')).toBe('2');
    expect(await env.redis.keys(`${env.prefix}:${env.queue}:lock:*`)).toEqual([]);
    expect(await env.redis.keys(`${env.prefix}:${env.queue}:fence:*`)).toEqual([]);
    const a = await readLease(env.redis, now.lock('a'));
    expect(a).toMatchObject({ grants: 2, holder: 'stopped-replica-token' });
    expect(a.leftMs).toBeLessThanOrEqual(3000);
    expect(await readLease(env.redis, now.lock('b'))).toEqual({ grants: 3 });
    expect(await env.redis.pttl(now.lock('b'))).toBeGreaterThan(WINDOW_MS - 10_000);

    replica = await new Replica({ amqpUrl: AMQP_URL, redisUrls: [REDIS_URL], queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, dedupTtlMs: '1m', logLevel: 'silent' }).start();
    await publishRaw(env.ch, env.queue, ['a', 'b'].map((id) => body(id, { ledger: env!.ledger })));
    await waitFor(() => executions(env!.ledger).size === 2, 20_000, 'both ids run');
    const started = new Map(readLedger(env.ledger).filter((l) => l.ev === 'start').map((l) => [l.id, l]));
    expect(started.get('a')!.t).toBeGreaterThanOrEqual(heldUntil - 50);
    expect([started.get('a')!.fence, started.get('b')!.fence]).toEqual([3, 4]);
  });
});
