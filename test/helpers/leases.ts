/**
 * An id's lease key as the scripts read it (src/store/lua/leases.lib.lua, layout format 2):
 * "<grants> <lease end, ms on Redis's clock> <token>" while a lease is or was held, "<grants>"
 * after it ended. Tests read and plant leases through these, never by the value's shape.
 */
import type { Redis } from 'ioredis';

export interface LeaseState {
  /** The grant counter: the fencing token of the last grant, the attempts made (0: none). */
  grants: number;
  /** The token of the lease held now, if one is. */
  holder?: string;
  /** Ms the held lease has left. */
  leftMs?: number;
}

const redisNow = async (redis: Redis): Promise<number> => {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
};

export async function readLease(redis: Redis, key: string): Promise<LeaseState> {
  const [value, now] = await Promise.all([redis.get(key), redisNow(redis)]);
  const m = /^(\d+)(?: (\d+) (.+))?$/.exec(value ?? '0');
  if (!m) throw new Error(`not a lease: ${key} = ${value}`);
  const ends = Number(m[2] ?? 0);
  return ends > now ? { grants: Number(m[1]), holder: m[3]!, leftMs: ends - now } : { grants: Number(m[1]) };
}

/** Whether a lease is held on the key now. */
export async function leaseHeld(redis: Redis, key: string): Promise<boolean> {
  return (await readLease(redis, key)).holder !== undefined;
}

/** Plant a lease held by `token` for `ms` more (as a grant by another replica would). */
export async function holdLease(redis: Redis, key: string, token: string, ms: number, grants = 1): Promise<void> {
  await redis.set(key, `${grants} ${(await redisNow(redis)) + ms} ${token}`, 'PX', Math.max(ms, 60_000));
}

/** The keys of a scope whose lease is held now. */
export async function heldLeases(redis: Redis, prefix: string, scope: string): Promise<string[]> {
  const keys = await redis.keys(`${prefix}:${scope}:lease:*`);
  const held = await Promise.all(keys.map((k) => leaseHeld(redis, k)));
  return keys.filter((_, i) => held[i]);
}
