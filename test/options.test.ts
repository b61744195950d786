import { describe, expect, it } from 'vitest';
import { ConfigError, OPTION_SPECS, resolveOptions, validate, withDefaults } from '../src/index.js';
import { optionsFromFlags } from '../src/common/options.js';

const required = { queue: 'orders', handler: './h.mjs' };

describe('withDefaults', () => {
  it('fills every option that has a default and keeps given ones', () => {
    const o = withDefaults({ ...required, prefetch: 7 });
    expect(o.prefetch).toBe(7);
    expect(o.amqpUrl).toBe('amqp://guest:guest@127.0.0.1:5672');
    expect(o.redisUrls).toEqual(['redis://127.0.0.1:6379']);
    expect(o.dedupTtlMs).toBe(24 * 3600_000);
    expect(o.lockTtlMs).toBe(30_000);
    expect(o.maxAttempts).toBe(5);
    expect(o.idField).toBe('message_id');
  });
});

describe('validate', () => {
  it('converts strings from the CLI and env', () => {
    const o = resolveOptions({ ...required, threads: '3', 'dedupTtlMs': '24h', lockTtlMs: '30s', maxBytes: '64kb', redisUrls: 'redis://a:1,redis://b:2,redis://c:3', idFrom: 'header:x-id,body,content' });
    expect(o.threads).toBe(3);
    expect(o.dedupTtlMs).toBe(86_400_000);
    expect(o.lockTtlMs).toBe(30_000);
    expect(o.maxBytes).toBe(65_536);
    expect(o.redisUrls).toHaveLength(3);
    expect(o.idFrom).toEqual([{ kind: 'header', name: 'x-id' }, { kind: 'body' }, { kind: 'content' }]);
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['queue', { queue: 'has space' }, /--queue .*must be a queue name/],
    ['handler', { handler: 'handler.py' }, /--handler .*must be a path to a \.js, \.mjs, \.cjs or \.ts module/],
    ['threads', { threads: '-1' }, /--threads .*must be an integer from 0 to 256; got "-1"/],
    ['batch-size', { batchSize: '0' }, /--batch-size .*must be an integer from 1 to 65535; got "0"/],
    ['concurrency', { concurrency: '0' }, /--concurrency .*must be an integer from 1 to 1000/],
    ['prefetch', { prefetch: 'many' }, /--prefetch .*must be an integer from 1 to 65535; got "many"/],
    ['amqp', { amqpUrl: 'http://x' }, /--amqp .*must be an amqp:\/\/ or amqps:\/\/ URL/],
    ['redis', { redisUrls: 'redis://ok,nope' }, /--redis .*must be a redis:\/\/ or rediss:\/\/ URL/],
    ['prefix', { prefix: 'a b' }, /--prefix .*must be letters, digits/],
    ['dedup-scope', { dedupScope: 'billing/email' }, /--dedup-scope \(env DEDUP_SCOPE\) must be a scope name of letters, digits/],
    ['dedup-ttl', { dedupTtlMs: '5 parsecs' }, /--dedup-ttl .*must be a duration of at least 1000ms/],
    ['lock-ttl', { lockTtlMs: '10ms' }, /--lock-ttl .*must be a duration of at least 100ms/],
    ['max-attempts', { maxAttempts: '-1' }, /--max-attempts .*must be an integer from 1 to 1000/],
    ['id-field', { idField: '' }, /--id-field .*must be a field name/],
    ['id-from', { idFrom: 'property,carrier-pigeon' }, /--id-from .*must be a comma-separated list of property, header:NAME, body, content/],
    ['max-bytes', { maxBytes: '1tb' }, /--max-bytes .*must be a size/],
    ['retry-delay', { retryDelayMs: 'soon' }, /--retry-delay .*must be a duration/],
    ['retry-max-delay', { retryDelayMs: '10s', retryMaxDelayMs: '1s' }, /--retry-max-delay must be at least --retry-delay/],
    ['result-max-bytes', { resultMaxBytes: '-5' }, /--result-max-bytes .*must be a size/],
    ['queue-type', { queueType: 'stream' }, /--queue-type .*must be one of classic, quorum/],
    ['delivery-limit', { deliveryLimit: '0' }, /--delivery-limit .*must be an integer from 1 to 1000000/],
    ['amqp list', { amqpUrl: 'amqp://a:5672,http://b' }, /--amqp .*or several \(the nodes of one cluster\) separated by commas; got/],
    ['drain-timeout', { drainTimeoutMs: 'forever' }, /--drain-timeout .*must be a duration/],
    ['log-level', { logLevel: 'loud' }, /--log-level .*must be one of fatal, error/],
    ['log-format', { logFormat: 'xml' }, /--log-format .*must be one of auto, json, pretty/],
    ['summary-interval', { summaryIntervalMs: 'hourly' }, /--summary-interval .*must be a duration/],
    ['handler-timeout', { handlerTimeoutMs: '1 fortnight' }, /--handler-timeout .*must be a duration/],
    ['overdue-after', { overdueAfterMs: 'soon' }, /--overdue-after .*must be a duration/],
    ['worker-heap-mb', { workerHeapMb: '-1' }, /--worker-heap-mb .*must be an integer from 0 to 65536/],
    ['inline-below-us', { inlineBelowUs: '0.5ms' }, /--inline-below-us .*must be an integer from 0 to 1000000/],
    ['on-conflict', { onConflict: 'panic' }, /--on-conflict .*must be one of dead-letter, ack/],
    ['inbox', { inboxUrl: 'mysql://x' }, /--inbox .*must be a postgres:\/\/ URL/],
    ['tls-ca', { tlsCa: '' }, /--tls-ca .*must be a file path/],
    ['tls-cert', { tlsCert: '/c.pem' }, /--tls-cert and --tls-key go together/],
    ['tls-key', { tlsKey: '' }, /--tls-key .*must be a file path/],
    ['replicas', { replicas: '100' }, /--replicas .*must be an integer from 1 to 64/],
    ['admin', { admin: 'localhost' }, /--admin .*must be host:port/],
    ['admin-token', { adminToken: 'short' }, /--admin-token .*must be at least 8 characters/],
    ['redis-cluster', { redisCluster: 'http://node:7000' }, /--redis-cluster .*must be a redis:\/\/ or rediss:\/\/ URL/],
    ['redis-cluster with --redis', { redisCluster: 'redis://a:7000', redisUrls: 'redis://b:6379' }, /--redis-cluster and --redis name two different stores/],
    ['redis-wait-replicas', { redisWaitReplicas: '-1' }, /--redis-wait-replicas .*must be an integer from 0 to 16/],
    ['dedup-buckets', { dedupBuckets: '0' }, /--dedup-buckets .*must be an integer from 1 to 1048576/],
    ['dedup-ttl vs lock-ttl', { dedupTtlMs: '10s', lockTtlMs: '30s' }, /--dedup-ttl must be at least --lock-ttl/],
  ];
  it.each(bad)('rejects a bad %s with a message naming the flag and the expected form', (_name, input, message) => {
    expect(() => resolveOptions({ ...required, ...input } as never)).toThrow(message);
  });

  it('--amqp takes the nodes of one cluster, comma-separated', () => {
    const o = resolveOptions({ ...required, amqpUrl: 'amqp://a:5672, amqp://b:5673,amqps://c:5671' } as never);
    expect(o.amqpUrl).toBe('amqp://a:5672,amqp://b:5673,amqps://c:5671');
  });

  it('every option is covered by a bad-value case above', () => {
    const covered = new Set(bad.map(([name]) => name.split(' ')[0]));
    expect(OPTION_SPECS.map((s) => s.flag).filter((f) => !covered.has(f))).toEqual([]);
  });

  it('names a missing required option', () => {
    expect(() => validate(withDefaults({ handler: './h.mjs' }))).toThrow(/--queue is required .*env DEDUP_QUEUE/);
    try {
      validate(withDefaults({ queue: 'q' }));
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).code).toBe('CONFIG_INVALID');
      expect((err as ConfigError).option).toBe('handler');
    }
  });
});

describe('optionsFromFlags', () => {
  it('takes flags first, then env', () => {
    const o = optionsFromFlags({ queue: 'from-flag' }, { DEDUP_QUEUE: 'from-env', DEDUP_PREFETCH: '42' });
    expect(o.queue).toBe('from-flag');
    expect(o.prefetch).toBe('42');
  });
  it('rejects unknown flags', () => {
    expect(() => optionsFromFlags({ prefech: '1' }, {})).toThrow(/unknown flag --prefech/);
  });
});
