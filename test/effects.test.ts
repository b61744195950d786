/** Redis-atomic effects: what the replica refuses before anything reaches Redis (pure unit test). */
import { describe, expect, it } from 'vitest';
import { checkEffects, EFFECT_COMMANDS, MAX_EFFECT_ARGS } from '../src/store/effects.js';

const one = (command: string, ...args: (string | number)[]) => checkEffects([{ command, key: 'k', args }]);

describe('checkEffects', () => {
  it('accepts the commands as Redis takes them, upper-casing the command', () => {
    expect(checkEffects([{ command: 'incrby', key: 'k', args: [5] }])).toEqual([{ command: 'INCRBY', key: 'k', args: [5] }]);
    for (const [command, args] of [
      ['SET', ['v', 'EX', 60, 'NX']],
      ['SET', ['v', 'KEEPTTL']],
      ['SETEX', [10, 'v']],
      ['HSET', ['f', 'v', 'g', 'w']],
      ['HINCRBY', ['f', -3]],
      ['HINCRBYFLOAT', ['f', '0.5']],
      ['ZADD', [1.5, 'm', '2', 'n']],
      ['XADD', ['*', 'f', 'v']],
      ['DEL', []],
      ['PEXPIRE', [1000]],
    ] as const) {
      expect(one(command, ...args), command).toBeInstanceOf(Array);
    }
  });

  it('refuses what would fail inside the script, naming the effect (counted from 1) and what it takes', () => {
    expect(one('HINCRBY', 'f', 1.5)).toBe('effect 1: HINCRBY takes a field and an integer');
    expect(one('INCRBY', 'ten')).toBe('effect 1: INCRBY takes one integer');
    expect(one('HSET', 'f')).toBe('effect 1: HSET takes field value pairs');
    expect(one('SET', 'v', 'EX')).toBe('effect 1: SET EX takes a positive integer');
    expect(one('SET', 'v', 'EX', 5, 'PX', 5)).toBe('effect 1: SET has two expiry options');
    expect(one('SET', 'v', 'GET')).toBe('effect 1: SET has an unknown option "GET"');
    expect(one('ZADD', 'NX', 1, 'm')).toBe('effect 1: ZADD takes score member pairs (no options)');
    expect(one('XADD', '1-1', 'f', 'v')).toBe('effect 1: XADD takes * and field value pairs');
    expect(one('DEL', 'other-key')).toBe('effect 1: DEL takes only its key');
    expect(checkEffects([{ command: 'INCR', key: 'k', args: [] }, { command: 'SETEX', key: 'k', args: [0, 'v'] }])).toBe(
      'effect 2: SETEX takes seconds (a positive integer) and a value',
    );
    expect(one('RPUSH', ...Array.from({ length: MAX_EFFECT_ARGS + 1 }, () => 'x'))).toBe(`effect 1: ${MAX_EFFECT_ARGS + 1} arguments, more than ${MAX_EFFECT_ARGS}`);
    expect(one('FLUSHALL')).toMatch(/^effect 1: command "FLUSHALL" is not one of SET /);
  });

  it('has an argument check for every allowed command (none is let through unchecked)', () => {
    for (const command of Object.keys(EFFECT_COMMANDS)) expect(() => one(command, 'x', 'y', 'z'), command).not.toThrow();
  });
});
