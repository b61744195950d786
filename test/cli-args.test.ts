import { describe, expect, it } from 'vitest';
import { closest, editDistance, parseArgsFor, renderHelp } from '../src/cli/args.js';
import { COMMANDS } from '../src/cli/commands.js';
import { poolFlags } from '../src/cli/pool-flags.js';
import type { Command } from '../src/cli/types.js';
import { ConfigError } from '../src/common/errors.js';
import { OPTION_SPECS, defaultText, type OptionSpec } from '../src/common/options.js';

const cmd = (over: Partial<Command> = {}): Command => ({
  name: 'demo',
  summary: 'a demo',
  usage: 'demo [flags]',
  flags: [
    { name: 'threads', type: 'string', value: 'N', doc: 'threads', default: '4' },
    { name: 'json', type: 'boolean', doc: 'as JSON' },
  ],
  run: async () => 0,
  ...over,
});

function thrown(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('did not throw');
}

describe('edit distance and did-you-mean', () => {
  it('counts insertions, deletions, substitutions and swaps of neighbours as one edit each', () => {
    expect(editDistance('threads', 'threads')).toBe(0);
    expect(editDistance('thread', 'threads')).toBe(1);
    expect(editDistance('thraeds', 'threads')).toBe(1);
    expect(editDistance('prefech', 'prefetch')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });
  it('suggests only a near candidate', () => {
    expect(closest('thread', ['threads', 'queue'])).toBe('threads');
    expect(closest('dedupttl', ['dedup-ttl', 'lock-ttl'])).toBe('dedup-ttl');
    expect(closest('verbose', ['threads', 'queue'])).toBeUndefined();
  });
});

describe('parseArgsFor', () => {
  it('takes --flag value, --flag=value, booleans and positionals', () => {
    expect(parseArgsFor(cmd({ positionals: 1 }), ['3', '--threads', '2', '--json'])).toEqual({ flags: { threads: '2', json: true }, positionals: ['3'] });
    expect(parseArgsFor(cmd(), ['--threads=7']).flags).toEqual({ threads: '7' });
  });
  it('names an unknown flag and suggests the nearest one', () => {
    const err = thrown(() => parseArgsFor(cmd(), ['--thread', '2']));
    expect(err.option).toBe('thread');
    expect(err.message).toMatch(/unknown flag --thread for dedup-pool demo; did you mean --threads\?/);
  });
  it('says when a flag belongs to another command', () => {
    const err = thrown(() => parseArgsFor(cmd(), ['--replicas', '2'], new Map([['replicas', ['start']]])));
    expect(err.option).toBe('replicas');
    expect(err.message).toMatch(/--replicas does not apply to dedup-pool demo \(it is a flag of start\)/);
  });
  it('rejects a missing value, a value given to a boolean, and stray arguments', () => {
    expect(thrown(() => parseArgsFor(cmd(), ['--threads'])).message).toMatch(/--threads needs a value \(--threads N\)/);
    expect(thrown(() => parseArgsFor(cmd(), ['--threads', '--json'])).message).toMatch(/--threads needs a value/);
    expect(thrown(() => parseArgsFor(cmd(), ['--json=yes'])).message).toMatch(/--json takes no value/);
    expect(thrown(() => parseArgsFor(cmd(), ['extra'])).message).toMatch(/dedup-pool demo takes no arguments; got "extra"/);
  });
});

describe('help', () => {
  it('shows every flag with its env variable and its default as typed', () => {
    const help = renderHelp(cmd({ flags: poolFlags() }));
    for (const typed of ['default 24h', 'default 30s', 'default 1mb', 'default 60s', 'default body,header:x-message-id,property', 'default redis://127.0.0.1:6379', 'env DEDUP_TTL']) {
      expect(help).toContain(typed);
    }
    expect(help).toMatch(/--queue Q +queue to consume \(env DEDUP_QUEUE, required\)/);
  });

  it('every default shown is what the option parses to', () => {
    for (const s of OPTION_SPECS as readonly OptionSpec[]) {
      if (s.default === undefined) continue;
      expect([s.flag, s.kind.coerce(defaultText(s))]).toEqual([s.flag, s.default]);
    }
  });

  it('replica has no --replicas or --admin-token, and every command has its own help', () => {
    const replica = COMMANDS.find((c) => c.name === 'replica')!;
    expect(replica.flags.map((f) => f.name)).not.toContain('replicas');
    expect(replica.flags.map((f) => f.name)).not.toContain('admin-token');
    expect(replica.flags.map((f) => f.name)).toContain('admin');
    for (const c of COMMANDS) expect(c.usage.startsWith(c.name)).toBe(true);
  });
});
