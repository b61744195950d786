/**
 * The record layout guard: replicas of one prefix and scope share the dedup window and
 * bucket count (a replica that differs refuses to start), and `layout set` changes the
 * window of a stopped pool without running any id twice.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { OptionsInput } from '../src/common/options.js';
import { Replica } from '../src/replica/replica.js';
import { keysFor } from '../src/index.js';
import { AMQP_URL, LEDGER_HANDLER, REDIS_URL, body, executions, publishRaw, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { spawnCli, startArgs, type ReplicaProcess } from './helpers/processes.js';
import { startRedisServer, type RedisServer } from './helpers/redis-servers.js';

describe('record layout guard', () => {
  let env: TestEnv | undefined;
  let replicas: Replica[] = [];
  let procs: ReplicaProcess[] = [];
  let servers: RedisServer[] = [];
  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await Promise.all(servers.map((s) => s.kill()));
    await env?.cleanup();
    [env, replicas, procs, servers] = [undefined, [], [], []];
  });
  const replica = async (input: Partial<OptionsInput>): Promise<Replica> => {
    // One that fails to start has closed itself.
    const r = await new Replica({ amqpUrl: AMQP_URL, redisUrls: [REDIS_URL], logLevel: 'silent', queue: env!.queue, prefix: env!.prefix, handler: LEDGER_HANDLER, threads: 1, ...input }).start();
    replicas.push(r);
    return r;
  };
  const stop = async (r: Replica): Promise<void> => {
    await r.stop();
    replicas = replicas.filter((x) => x !== r);
  };
  const cli = (args: string[]): ReplicaProcess => {
    const p = spawnCli(args);
    procs.push(p);
    return p;
  };
  const layoutSet = (ttl: string, redis = REDIS_URL): ReplicaProcess => cli(['layout', 'set', '--queue', env!.queue, '--prefix', env!.prefix, '--redis', redis, '--dedup-ttl', ttl]);

  it('a second replica with another --dedup-ttl on the same prefix and queue refuses to start: exit 2, both values, how to change', async () => {
    env = await testEnv('layout-ttl');
    await replica({ dedupTtlMs: '1h' });
    const second = cli([...startArgs({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER }), '--threads', '1', '--dedup-ttl', '2h']);
    expect(await second.exited).toBe(2);
    const err = second.stderr.join('');
    expect(err).toContain(`--dedup-ttl 2h differs from the record layout stored for prefix ${env.prefix}, queue ${env.queue} on redis://127.0.0.1:6379: 1h`);
    expect(err).toContain(`dedup-pool layout set --queue ${env.queue} --prefix ${env.prefix} --dedup-ttl 2h`);
    expect(second.logs.filter((l) => l.msg === 'replica started')).toEqual([]);
  });

  it('another --dedup-buckets is refused too, with a typed error (LAYOUT_MISMATCH)', async () => {
    env = await testEnv('layout-buckets');
    await replica({ dedupBuckets: 64 });
    await expect(replica({ dedupBuckets: 128 })).rejects.toMatchObject({ code: 'LAYOUT_MISMATCH', option: 'dedup-buckets', message: expect.stringContaining('--dedup-buckets 128 differs') });
  });

  it('with --redis a,b,c the layout is stored on each master, and a master that holds another one is named', async () => {
    env = await testEnv('layout-quorum');
    servers = await Promise.all([7340, 7341, 7342].map((p) => startRedisServer(p)));
    const urls = servers.map((s) => s.url);
    const first = await replica({ redisUrls: urls.join(','), dedupTtlMs: '1h' });
    const layoutKey = keysFor(env.prefix, env.queue).layout;
    for (const s of servers) {
      const r = new Redis(s.url);
      expect(await r.hget(layoutKey, 'window')).toBe(String(3600_000));
      if (s === servers[2]) await r.hset(layoutKey, 'window', String(7200_000), 'slot', String(1800_000));
      r.disconnect();
    }
    await stop(first);
    await expect(replica({ redisUrls: urls.join(','), dedupTtlMs: '1h' })).rejects.toMatchObject({ code: 'LAYOUT_MISMATCH', message: expect.stringContaining(`on ${urls[2]}: 2h`) });
  });

  it('layout set changes the window of a stopped pool, longer then shorter, and no id runs twice', async () => {
    env = await testEnv('layout-change');
    const ids = Array.from({ length: 60 }, (_, i) => `lc-${i}`);
    const publishAll = () => publishRaw(env!.ch, env!.queue, ids.map((id) => body(id, { ledger: env!.ledger })));
    const runOnce = () => ids.every((id) => executions(env!.ledger).get(id) === 1);

    let r = await replica({ dedupTtlMs: '1m' });
    await publishAll();
    await waitFor(runOnce, 30_000, 'every id run once');
    // Refused while a replica of the scope is connected.
    const early = layoutSet('4m');
    expect(await early.exited).toBe(2);
    expect(early.stderr.join('')).toMatch(/replicas of prefix .* are still connected \(redis:\/\/127\.0\.0\.1:6379: \d+ connection\(s\)\): stop every one of them first/);
    await stop(r);

    for (const [ttl, was] of [['4m', '1m'], ['90s', '4m']] as const) {
      const change = layoutSet(ttl);
      expect(await change.exited).toBe(0);
      expect(change.lines.join('\n')).toMatch(new RegExp(`--dedup-ttl ${was} -> ${ttl}, \\d+ record\\(s\\) copied`));
      // A replica with the old window is refused now.
      const late = cli([...startArgs({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER }), '--threads', '1', '--dedup-ttl', was]);
      expect(await late.exited).toBe(2);
      expect(late.stderr.join('')).toContain(`--dedup-ttl ${was} differs from the record layout`);
      r = await replica({ dedupTtlMs: ttl });
      await publishAll();
      await waitFor(() => r.stats.duplicates.done === ids.length, 30_000, `every copy a duplicate under --dedup-ttl ${ttl} (${JSON.stringify(r.stats)}; ${JSON.stringify([...executions(env!.ledger)])})`);
      expect(runOnce()).toBe(true);
      await stop(r);
    }
  });

  it('with --redis a,b,c, layout set changes the window on every master, and no id runs twice', async () => {
    env = await testEnv('layout-change-quorum');
    servers = await Promise.all([7343, 7344, 7345].map((p) => startRedisServer(p)));
    const redisUrls = servers.map((s) => s.url).join(',');
    const ids = Array.from({ length: 30 }, (_, i) => `lq-${i}`);
    const publishAll = () => publishRaw(env!.ch, env!.queue, ids.map((id) => body(id, { ledger: env!.ledger })));
    let r = await replica({ redisUrls, dedupTtlMs: '1m' });
    await publishAll();
    await waitFor(() => ids.every((id) => executions(env!.ledger).get(id) === 1), 30_000, 'every id run once');
    await stop(r);
    const change = layoutSet('5m', redisUrls);
    expect(await change.exited).toBe(0);
    expect(change.lines.filter((l) => /--dedup-ttl 1m -> 5m, 30 record\(s\) copied/.test(l))).toHaveLength(3);
    r = await replica({ redisUrls, dedupTtlMs: '5m' });
    await publishAll();
    await waitFor(() => r.stats.duplicates.done === ids.length, 30_000, 'every copy a duplicate');
    expect(ids.every((id) => executions(env!.ledger).get(id) === 1)).toBe(true);
  });
});
