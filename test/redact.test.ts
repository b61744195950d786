import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/common/errors.js';
import { optionsFromFlags, resolveOptions } from '../src/common/options.js';
import { redactSecrets, redactUrl } from '../src/common/redact.js';

const required = { queue: 'orders', handler: './h.mjs' };

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('did not throw');
}

describe('redaction', () => {
  it('hides passwords in URLs, lists, quotes and query strings, even in URLs that do not parse', () => {
    expect(redactSecrets('"redis://u:hunter2@a:1,nope"')).toBe('"redis://u:***@a:1,nope"');
    expect(redactSecrets('redis://:hunter2@a:1,redis://b:hunter3@c')).toBe('redis://:***@a:1,redis://b:***@c');
    expect(redactSecrets('http://user:hunter2@[bad')).toBe('http://user:***@[bad');
    expect(redactSecrets('postgres://db/x?sslmode=require&password=hunter2')).toBe('postgres://db/x?sslmode=require&password=***');
    expect(redactSecrets('amqp://guest@host')).toBe('amqp://guest@host');
    expect(redactUrl('amqp://u:hunter2@host:5672/')).toBe('amqp://u:***@host:5672/');
  });

  const cases: [string, Record<string, string>, Record<string, string>, RegExp][] = [
    ['--redis flag', { redis: 'redis://u:hunter2@a:1,nope' }, {}, /--redis .*got "redis:\/\/u:\*\*\*@a:1,nope"/],
    ['DEDUP_AMQP_URL env', {}, { DEDUP_AMQP_URL: 'http://guest:hunter2@rabbit:5672' }, /--amqp \(env DEDUP_AMQP_URL\) .*got "http:\/\/guest:\*\*\*@rabbit:5672"/],
    ['--inbox flag', { inbox: 'mysql://app:hunter2@db/x' }, {}, /--inbox .*got "mysql:\/\/app:\*\*\*@db\/x"/],
    ['DEDUP_INBOX_URL query password', {}, { DEDUP_INBOX_URL: 'mysql://db/x?password=hunter2' }, /--inbox .*password=\*\*\*/],
    ['--admin-token', { 'admin-token': 'hunter2' }, {}, /--admin-token .*got a value of 7 character\(s\)/],
  ];
  it.each(cases)('a rejected %s is echoed without its password', (_what, flags, env, expected) => {
    const message = messageOf(() => resolveOptions({ ...required, ...optionsFromFlags(flags, env) }));
    expect(message).toMatch(expected);
    expect(message).not.toContain('hunter2');
  });
});
