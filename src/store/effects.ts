/**
 * Redis-atomic mode: a handler describes its Redis writes instead of performing
 * them (`ctx.redis(command, key, ...args)`), and the replica applies them in the
 * same script as the completion record, only while its lease is current. A crash
 * at any point leaves both applied or neither.
 */

export interface RedisEffect {
  command: string;
  key: string;
  args: (string | number)[];
}

/** Data-writing commands an effect may use, by the key type each works on. */
export const EFFECT_COMMANDS: Record<string, 'string' | 'hash' | 'set' | 'zset' | 'list' | 'stream' | 'any'> = {
  SET: 'string', SETEX: 'string', PSETEX: 'string', APPEND: 'string', INCR: 'string', INCRBY: 'string', INCRBYFLOAT: 'string', DECR: 'string', DECRBY: 'string',
  HSET: 'hash', HSETNX: 'hash', HINCRBY: 'hash', HINCRBYFLOAT: 'hash', HDEL: 'hash',
  SADD: 'set', SREM: 'set',
  ZADD: 'zset', ZINCRBY: 'zset', ZREM: 'zset',
  LPUSH: 'list', RPUSH: 'list',
  XADD: 'stream',
  DEL: 'any', EXPIRE: 'any', PEXPIRE: 'any',
};

/** The effects a handler returned, checked; or the reason they are refused. */
export function checkEffects(effects: unknown): RedisEffect[] | string {
  if (!Array.isArray(effects)) return 'effects must be an array';
  for (const [i, e] of effects.entries()) {
    const eff = e as Partial<RedisEffect>;
    if (typeof eff?.command !== 'string' || !(eff.command.toUpperCase() in EFFECT_COMMANDS)) {
      return `effect ${i}: command ${JSON.stringify(eff?.command)} is not one of ${Object.keys(EFFECT_COMMANDS).join(' ')}`;
    }
    if (typeof eff.key !== 'string' || eff.key.length === 0) return `effect ${i}: key must be a non-empty string`;
    if (!Array.isArray(eff.args) || !eff.args.every((a) => typeof a === 'string' || (typeof a === 'number' && Number.isFinite(a)))) {
      return `effect ${i}: args must be strings or finite numbers`;
    }
  }
  return (effects as RedisEffect[]).map((e) => ({ command: e.command.toUpperCase(), key: e.key, args: e.args }));
}

/** Records effects inside a worker: what `ctx.redis` is. */
export function effectRecorder(): { effects: RedisEffect[]; redis(command: string, key: string, ...args: (string | number)[]): void } {
  const effects: RedisEffect[] = [];
  return {
    effects,
    redis(command, key, ...args) {
      effects.push({ command, key, args });
    },
  };
}
