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

/** Most arguments of one effect (the script passes them to redis.call in one go). */
export const MAX_EFFECT_ARGS = 1000;

const INT = /^-?\d{1,18}$/;
const isInt = (a: string | number): boolean => INT.test(String(a));
const isFloat = (a: string | number): boolean => String(a).trim() !== '' && Number.isFinite(Number(a));

/**
 * The arguments each command takes after its key, checked before anything is sent:
 * a script that fails part-way keeps the writes it made, so whatever can be known
 * wrong in advance is refused whole. Null: fine; else what is wrong.
 */
const ARGS: Record<string, (a: (string | number)[]) => string | null> = {
  SET: (a) => (a.length < 1 ? 'needs a value' : setOptions(a.slice(1))),
  SETEX: (a) => (a.length === 2 && isInt(a[0]!) && Number(a[0]) > 0 ? null : 'takes seconds (a positive integer) and a value'),
  PSETEX: (a) => (a.length === 2 && isInt(a[0]!) && Number(a[0]) > 0 ? null : 'takes milliseconds (a positive integer) and a value'),
  APPEND: (a) => (a.length === 1 ? null : 'takes one value'),
  INCR: (a) => (a.length === 0 ? null : 'takes no arguments'),
  DECR: (a) => (a.length === 0 ? null : 'takes no arguments'),
  INCRBY: (a) => (a.length === 1 && isInt(a[0]!) ? null : 'takes one integer'),
  DECRBY: (a) => (a.length === 1 && isInt(a[0]!) ? null : 'takes one integer'),
  INCRBYFLOAT: (a) => (a.length === 1 && isFloat(a[0]!) ? null : 'takes one number'),
  HSET: (a) => (a.length >= 2 && a.length % 2 === 0 ? null : 'takes field value pairs'),
  HSETNX: (a) => (a.length === 2 ? null : 'takes a field and a value'),
  HINCRBY: (a) => (a.length === 2 && isInt(a[1]!) ? null : 'takes a field and an integer'),
  HINCRBYFLOAT: (a) => (a.length === 2 && isFloat(a[1]!) ? null : 'takes a field and a number'),
  HDEL: (a) => (a.length >= 1 ? null : 'takes one or more fields'),
  SADD: (a) => (a.length >= 1 ? null : 'takes one or more members'),
  SREM: (a) => (a.length >= 1 ? null : 'takes one or more members'),
  ZADD: (a) => (a.length >= 2 && a.length % 2 === 0 && a.every((x, i) => i % 2 === 1 || isFloat(x)) ? null : 'takes score member pairs (no options)'),
  ZINCRBY: (a) => (a.length === 2 && isFloat(a[0]!) ? null : 'takes a number and a member'),
  ZREM: (a) => (a.length >= 1 ? null : 'takes one or more members'),
  LPUSH: (a) => (a.length >= 1 ? null : 'takes one or more values'),
  RPUSH: (a) => (a.length >= 1 ? null : 'takes one or more values'),
  XADD: (a) => (a.length >= 3 && a[0] === '*' && (a.length - 1) % 2 === 0 ? null : 'takes * and field value pairs'),
  DEL: (a) => (a.length === 0 ? null : 'takes only its key'),
  EXPIRE: (a) => (a.length === 1 && isInt(a[0]!) ? null : 'takes seconds (an integer)'),
  PEXPIRE: (a) => (a.length === 1 && isInt(a[0]!) ? null : 'takes milliseconds (an integer)'),
};

/** SET's options: EX|PX|EXAT|PXAT n, NX or XX, KEEPTTL (each at most once, one expiry). */
function setOptions(opts: (string | number)[]): string | null {
  const seen = new Set<string>();
  for (let i = 0; i < opts.length; i++) {
    const o = String(opts[i]).toUpperCase();
    const expiry = ['EX', 'PX', 'EXAT', 'PXAT'].includes(o);
    if (!expiry && !['NX', 'XX', 'KEEPTTL'].includes(o)) return `has an unknown option ${JSON.stringify(opts[i])}`;
    const group = expiry || o === 'KEEPTTL' ? 'expiry' : 'condition';
    if (seen.has(group)) return `has two ${group} options`;
    seen.add(group);
    if (expiry && !(i + 1 < opts.length && isInt(opts[i + 1]!) && Number(opts[i + 1]) > 0)) return `${o} takes a positive integer`;
    if (expiry) i++;
  }
  return null;
}

/** The effects a handler returned, checked; or the reason they are refused. */
export function checkEffects(effects: unknown): RedisEffect[] | string {
  if (!Array.isArray(effects)) return 'effects must be an array';
  for (const [i, e] of effects.entries()) {
    const eff = e as Partial<RedisEffect>;
    if (typeof eff?.command !== 'string' || !(eff.command.toUpperCase() in EFFECT_COMMANDS)) {
      return `effect ${i + 1}: command ${JSON.stringify(eff?.command)} is not one of ${Object.keys(EFFECT_COMMANDS).join(' ')}`;
    }
    if (typeof eff.key !== 'string' || eff.key.length === 0) return `effect ${i + 1}: key must be a non-empty string`;
    if (!Array.isArray(eff.args) || !eff.args.every((a) => typeof a === 'string' || (typeof a === 'number' && Number.isFinite(a)))) {
      return `effect ${i + 1}: args must be strings or finite numbers`;
    }
    if (eff.args.length > MAX_EFFECT_ARGS) return `effect ${i + 1}: ${eff.args.length} arguments, more than ${MAX_EFFECT_ARGS}`;
    const command = eff.command.toUpperCase();
    const wrong = ARGS[command]!(eff.args);
    if (wrong) return `effect ${i + 1}: ${command} ${wrong}`;
  }
  return (effects as RedisEffect[]).map((e) => ({ command: e.command.toUpperCase(), key: e.key, args: e.args }));
}
