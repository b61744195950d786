/**
 * A record written where Redis's clock read later (a clock that stepped back, a promoted
 * replica that lags) sits in the next time slot: lookups and forget still find it.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DedupStore, connectRedis, keysFor } from '../src/index.js';
import { SLOTS_PER_WINDOW } from '../src/store/dedup-store.js';
import { REDIS_URL, waitFor } from './helpers/services.js';

describe('a record in the next time slot', () => {
  const prefix = `test:skew:${randomBytes(4).toString('hex')}`;
  const windowMs = 60_000;
  const slotMs = Math.ceil(windowMs / SLOTS_PER_WINDOW);
  const keys = keysFor(prefix, 'skew');
  let probe: Redis;
  let store: DedupStore;
  beforeAll(async () => {
    probe = new Redis(REDIS_URL);
    store = new DedupStore([connectRedis(REDIS_URL)], { keys, lockTtlMs: 5000, dedupTtlMs: windowMs });
    await waitFor(() => store.healthy(), 5000, 'redis');
  });
  afterAll(async () => {
    const made = await probe.keys(`${prefix}:*`);
    if (made.length > 0) await probe.del(...made);
    probe.disconnect();
    await store.close();
  });

  /** Write the id's record as complete.lua would with Redis's clock one slot later. */
  const writeInNextSlot = async (id: string): Promise<void> => {
    const [s, us] = await probe.time();
    const next = Math.floor((Number(s) * 1000 + Math.floor(Number(us) / 1000)) / slotMs) + 1;
    const k = keys.id(id);
    const hash = `${keys.prefixes[0]}${k.tag}:${next}`;
    await probe.hset(hash, k.field, 'fingerprint0');
    await probe.pexpireat(hash, (next + 1) * slotMs + windowMs);
  };

  it('begin answers "done" and inspect shows it', async () => {
    await writeInNextSlot('ahead-1');
    expect(await store.begin('ahead-1')).toEqual({ state: 'done', record: 'fingerprint0' });
    expect((await store.inspect('ahead-1')).record).toBe('fingerprint0');
  });

  it('forget removes it', async () => {
    await writeInNextSlot('ahead-2');
    expect(await store.forget('ahead-2')).toBe('forgotten');
    expect((await store.begin('ahead-2')).state).toBe('acquired');
  });
});
