/**
 * The wall clock of the Redis master stepped (an NTP step, a resumed VM), on a
 * redis-server of the test's own with its wall clock shifted by an LD_PRELOAD shim
 * (test/fixtures/wallclock-shift.c, built here with cc; libfaketime, as the replica
 * clock-step test uses it, cannot start Debian's redis-server: jemalloc recurses into
 * its clock_gettime). The monotonic clock is untouched.
 * Redis expires keys by its wall clock, and no replica can guard against that:
 *   - forward: every lease expires at once; another replica is granted the id while
 *     the first still runs it. The first run's completion must be refused (its grant
 *     counter is stale: fencing), its effect counted as a duplicate execution in plain
 *     mode, refused in Redis-atomic mode;
 *   - back: a lease granted before the step lives that much longer; when its holder
 *     dies, the id stalls for the step on top of the lease.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Replica } from '../src/index.js';
import { spawnCli, startArgs, type ReplicaProcess } from './helpers/processes.js';
import { startRedisServer, type RedisServer } from './helpers/redis-servers.js';
import { AMQP_URL, LEDGER_HANDLER, body, executions, publishRaw, queueDepth, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';

const SHIM_SOURCE = fileURLToPath(new URL('./fixtures/wallclock-shift.c', import.meta.url));
const ATOMIC_LEDGER = fileURLToPath(new URL('./fixtures/atomic-ledger-handler.mjs', import.meta.url));

describe('wall-clock steps on the Redis master', () => {
  let env: TestEnv | undefined;
  let server: RedisServer | undefined;
  let replicas: Replica[] = [];
  let proc: ReplicaProcess | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    proc?.child.kill('SIGKILL');
    await proc?.exited;
    await Promise.all(replicas.map((r) => r.stop()));
    await server?.kill();
    await env?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
    [env, server, replicas, proc, dir] = [undefined, undefined, [], undefined, undefined];
  });

  /** A redis-server whose wall clock the returned function sets, as an offset like "+30" (seconds). */
  async function fakedRedis(): Promise<(offset: string) => void> {
    dir = mkdtempSync(join(tmpdir(), 'redis-clock-'));
    const file = join(dir, 'offset');
    writeFileSync(file, '+0');
    const shim = join(dir, 'wallclock-shift.so');
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', shim, SHIM_SOURCE]);
    server = await startRedisServer(undefined, [], { LD_PRELOAD: shim, WALLCLOCK_OFFSET_FILE: file });
    return (offset) => writeFileSync(file, offset);
  }

  const LEASE_MS = 12_000;
  const replicaOptions = (handler: string) => ({ amqpUrl: AMQP_URL, redisUrls: [server!.url], queue: env!.queue, prefix: env!.prefix, handler, threads: 1, prefetch: 1, lockTtlMs: LEASE_MS, logLevel: 'silent' as const });

  /** A runs the id; Redis's clock jumps forward 30 s; B gets a copy; then both handlers may finish. */
  async function forwardStep(tag: string, handler: string) {
    env = await testEnv(tag);
    const setClock = await fakedRedis();
    const go = `${env.ledger}.go`;
    const work = body('fwd-1', { ledger: env.ledger, holdFile: go, sink: `${env.prefix}:sink:` });
    const a = await new Replica(replicaOptions(handler)).start();
    await publishRaw(env.ch, env.queue, [work]);
    await waitFor(() => readLedger(env!.ledger).length === 1, 20_000, 'A started');
    const b = await new Replica(replicaOptions(handler)).start();
    replicas = [a, b];
    setClock('+30'); // A's lease (12 s) is gone in Redis, long before A renews it (a third of the way)
    await publishRaw(env.ch, env.queue, [work]); // A holds one delivery: the copy goes to B
    await waitFor(() => readLedger(env!.ledger).filter((l) => l.ev === 'start').length === 2, 20_000, 'B started');
    writeFileSync(go, '');
    await waitFor(async () => replicas.every((r) => r.stats.inFlight === 0) && (await queueDepth(env!.ch, env!.queue)) === 0, 30_000, 'settled');
    const starts = readLedger(env.ledger).filter((l) => l.ev === 'start');
    return { a, b, fences: starts.map((l) => l.fence) };
  }

  it('forward 30 s, plain mode: a second replica is granted the id mid-run; the stale completion is refused; the duplicate execution is counted', async () => {
    const { a, b, fences } = await forwardStep('redis-clock-fwd', LEDGER_HANDLER);
    expect(fences).toEqual([1, 2]); // the second grant's token is higher: a fencing sink refuses the first writer
    expect(executions(env!.ledger).get('fwd-1')).toBe(2); // both handlers' effects happened: the cost of the step
    expect(a.stats.completed).toBe(0); // A's completion refused: another grant since its own
    expect(a.stats.leaseLost).toBe(1);
    expect(b.stats.completed).toBe(1);
    console.info(`redis clock +30 s, plain: 1 id, executions ${executions(env!.ledger).get('fwd-1')}, tokens ${fences.join('/')}; A leases lost ${a.stats.leaseLost}, completions A ${a.stats.completed} B ${b.stats.completed}`);
  });

  it('forward 30 s, Redis-atomic mode: both handlers run, the stale one\'s effects are refused; applied exactly once', async () => {
    const { a, b, fences } = await forwardStep('redis-clock-atomic', ATOMIC_LEDGER);
    expect(fences).toEqual([1, 2]);
    expect(executions(env!.ledger).get('fwd-1')).toBe(2); // two runs of the handler...
    const redis = new Redis(server!.url);
    try {
      expect(await redis.get(`${env!.prefix}:sink:fwd-1`)).toBe('1'); // ...one effect
    } finally {
      redis.disconnect();
    }
    expect(a.stats.completed + b.stats.completed).toBe(1);
    expect(a.stats.leaseLost).toBe(1);
    console.info(`redis clock +30 s, Redis-atomic: handler runs 2, effect applied 1, tokens ${fences.join('/')}`);
  });

  it('back 15 s, then the holder dies: the id waits the lease plus the step, then runs once', async () => {
    env = await testEnv('redis-clock-back');
    const setClock = await fakedRedis();
    const lease = 3000;
    const go = `${env.ledger}.go`;
    const work = body('back-1', { ledger: env.ledger, holdFile: go });
    proc = spawnCli(startArgs({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--redis', server!.url, '--threads', '1', '--prefetch', '1', '--lock-ttl', `${lease}ms`] }));
    await proc.waitForLog('replica started');
    await publishRaw(env.ch, env.queue, [work]);
    await waitFor(() => readLedger(env!.ledger).length === 1, 20_000, 'A started');
    setClock('-15');
    await new Promise((r) => setTimeout(r, 300)); // a renewal may be out: let it land
    proc.child.kill('SIGKILL'); // the holder dies with its lease set by Redis's old clock
    const diedAt = Date.now();
    await proc.exited;
    const b = await new Replica({ ...replicaOptions(LEDGER_HANDLER), lockTtlMs: lease }).start();
    replicas = [b];
    await waitFor(() => readLedger(env!.ledger).filter((l) => l.ev === 'start').length === 2, 40_000, 'another run');
    const stalledMs = readLedger(env.ledger)[1]!.t - diedAt;
    writeFileSync(go, '');
    await waitFor(() => b.stats.completed === 1, 20_000, 'the id completed');
    expect(executions(env.ledger).get('back-1')).toBe(1);
    // The lease that A last set lived for its length plus the 15 s the clock went back.
    expect(stalledMs).toBeGreaterThan(15_000);
    expect(stalledMs).toBeLessThan(15_000 + lease + 5000);
    console.info(`redis clock -15 s, holder killed (lease ${lease} ms): the id waited ${stalledMs} ms before another run`);
  });
});
