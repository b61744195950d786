/**
 * Redis-atomic mode's outbox: a run's follow-ups (ctx.publish) are stored by one
 * more effect, an HSET on the scope's outbox hash (keys.ts outboxKey), applied in
 * the script that applies its other effects and writes its record: all of it
 * commits, or none. Whoever publishes an entry deletes it: the replica right after
 * the script, or the dispatcher (replica/redis-outbox-dispatcher.ts) for entries left
 * by a replica that died. Field: incoming id NUL position; value: the follow-up as
 * JSON, with the time it was committed.
 */
import type { Redis } from 'ioredis';
import type { RedisEffect } from './effects.js';
import type { OutboxMessage } from './outbox.js';

export interface StoredFollowup {
  field: string;
  /** The incoming message's id. */
  owner: string;
  /** When it was committed (ms since the epoch). */
  at: number;
  message: OutboxMessage;
}

type Encoded = Omit<OutboxMessage, 'content'> & { owner: string; at: number; content: string | { base64: string } };

export function outboxField(owner: string, position: number): string {
  return `${owner}\0${position}`;
}

/** The effect that stores one follow-up, applied with the run's own effects. */
export function outboxEffect(key: string, owner: string, m: OutboxMessage, at = Date.now()): RedisEffect {
  const content = typeof m.content === 'string' ? m.content : { base64: Buffer.from(m.content).toString('base64') };
  const value: Encoded = { ...m, owner, at, content };
  return { command: 'HSET', key, args: [outboxField(owner, m.position), JSON.stringify(value)] };
}

/** Up to about `limit` entries of the outbox (HSCAN: a pass over a large hash takes several calls). */
export async function scanOutbox(redis: Redis, key: string, limit: number): Promise<StoredFollowup[]> {
  const out: StoredFollowup[] = [];
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(key, cursor, 'COUNT', 100);
    cursor = next;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const v = JSON.parse(flat[i + 1]!) as Encoded;
      const { owner, at, content, ...rest } = v;
      out.push({ field: flat[i]!, owner, at, message: { ...rest, content: typeof content === 'string' ? content : Buffer.from(content.base64, 'base64') } });
    }
  } while (cursor !== '0' && out.length < limit);
  return out;
}

export async function removeFromOutbox(redis: Redis, key: string, fields: string[]): Promise<void> {
  if (fields.length > 0) await redis.hdel(key, ...fields);
}
