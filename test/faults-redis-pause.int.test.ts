/**
 * The Redis server itself paused (SIGSTOP) for longer than the lease, then resumed:
 * every client call times out meanwhile, and on resume Redis runs what was waiting
 * in its sockets and expires, by its own clock, every lease the pause outlived. A
 * redis-server of the test's own. Plain mode: nothing lost, duplicate executions
 * counted and each explained by the pause. Redis-atomic mode: every effect exactly once.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Replica } from '../src/index.js';
import { describeOutcome, outcome, sleep } from './helpers/fault-outcome.js';
import { startRedisServer, type RedisServer } from './helpers/redis-servers.js';
import { AMQP_URL, LEDGER_HANDLER, body, publishRaw, queueDepth, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { Redis } from 'ioredis';

const ATOMIC_LEDGER = fileURLToPath(new URL('./fixtures/atomic-ledger-handler.mjs', import.meta.url));
const PAUSE_MS = 5000;
const LEASE = '2s';

describe('the Redis server paused longer than the lease', () => {
  let env: TestEnv | undefined;
  let server: RedisServer | undefined;
  let replicas: Replica[] = [];
  afterEach(async () => {
    server?.process.kill('SIGCONT');
    await Promise.all(replicas.map((r) => r.stop()));
    await server?.kill();
    await env?.cleanup();
    [env, server, replicas] = [undefined, undefined, []];
  });

  /** Two replicas on a redis-server of the test's own; ids published, the pause taken mid-run. */
  async function pausedRun(tag: string, handler: string, ids: string[], data: (e: TestEnv) => Record<string, unknown>) {
    env = await testEnv(tag);
    server = await startRedisServer();
    const opts = { amqpUrl: AMQP_URL, redisUrls: [server.url], queue: env.queue, prefix: env.prefix, handler, threads: 2, prefetch: 6, lockTtlMs: LEASE, logLevel: 'silent' as const };
    replicas = [await new Replica(opts).start(), await new Replica(opts).start()];
    await publishRaw(env.ch, env.queue, ids.map((id) => body(id, data(env!))));
    const completed = () => replicas.reduce((n, r) => n + r.stats.completed, 0);
    await waitFor(() => completed() >= 30, 30_000, 'some completed');
    const pausedAt = Date.now();
    server.process.kill('SIGSTOP');
    await sleep(2500); // the store's call timeout (2 s): calls made before the stop have answered by now
    const completedAtPause = completed();
    await sleep(PAUSE_MS - 2500);
    // Nothing completes while Redis is stopped: no record, no ack.
    const completedInPause = completed() - completedAtPause;
    server.process.kill('SIGCONT');
    const resumedAt = Date.now();
    await waitFor(async () => completed() + dups() >= ids.length && (await queueDepth(env!.ch, env!.queue)) === 0 && replicas.every((r) => r.stats.inFlight === 0), 60_000, 'every id settled');
    expect(completedInPause).toBe(0);
    const sum = (f: (r: Replica) => number) => replicas.reduce((n, r) => n + f(r), 0);
    return { pausedAt, resumedAt, leaseLost: sum((r) => r.stats.leaseLost), storeErrors: sum((r) => r.stats.storeErrors) };
  }
  /**
   * A complete call that timed out in the pause still waits in Redis's socket and runs on
   * resume: if no other grant came first, its record is written then and the redelivery is
   * acked as a duplicate (the replica counted no completion for it).
   */
  const late = (ids: string[]) => `records written on resume by calls that had timed out ${ids.length - replicas.reduce((n, r) => n + r.stats.completed, 0)}`;
  const dups = () => replicas.reduce((n, r) => n + r.stats.duplicates.done + r.stats.duplicates['in-flight'], 0);

  it('plain mode: nothing lost; a second run only for a run that finished during the pause', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `rp-${i}`);
    const run = await pausedRun('redis-pause', LEDGER_HANDLER, ids, (e) => ({ ledger: e.ledger, sleepMs: 120 }));
    await waitFor(() => outcome(env!.ledger, ids).lost.length === 0, 30_000, 'every id executed');
    const o = outcome(env!.ledger, ids);
    expect(o.lost).toEqual([]);
    // A second run needs a first whose record could not be written: it finished while Redis
    // was stopped (or just before, its complete call caught by the pause), on one of the 2x6 held.
    expect(o.twice.length).toBeLessThanOrEqual(12);
    for (const t of o.twice) expect(t.done.some((l) => l.t >= run.pausedAt - 2000 && l.t <= run.resumedAt + 2000), `duplicate ${t.id} is explained by the pause`).toBe(true);
    // Complete calls retried through the pause find the records their timed-out first tries wrote on resume.
    expect(run.leaseLost).toBe(0);
    console.info(`redis SIGSTOP ${PAUSE_MS} ms (lease ${LEASE}), plain: ${describeOutcome(o)}; ${late(ids)}; leases lost ${run.leaseLost}, store errors ${run.storeErrors}`);
  });

  it('a complete call that timed out in the pause runs on resume: its retry finds that record ours, not a lease lost', async () => {
    env = await testEnv('redis-pause-retry');
    server = await startRedisServer();
    const replica = await new Replica({ amqpUrl: AMQP_URL, redisUrls: [server.url], queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, lockTtlMs: '20s', logLevel: 'silent' }).start();
    replicas = [replica];
    const go = `${env.ledger}.go`;
    await publishRaw(env.ch, env.queue, [body('retry-1', { ledger: env.ledger, holdFile: go })]);
    await waitFor(() => readLedger(env!.ledger).length === 1, 20_000, 'handler started');
    server.process.kill('SIGSTOP');
    writeFileSync(go, ''); // the handler finishes: its complete call waits in the stopped Redis's socket
    await waitFor(() => readLedger(env!.ledger).some((l) => l.ev === 'done'), 10_000, 'handler finished');
    await sleep(3000); // the first try timed out (2 s); the second waits behind it
    server.process.kill('SIGCONT');
    await waitFor(async () => replica.stats.inFlight === 0 && (await queueDepth(env!.ch, env!.queue)) === 0, 20_000, 'settled');
    expect(replica.stats.leaseLost).toBe(0);
    expect(replica.stats.completed).toBe(1);
    expect(replica.stats.requeued).toBe(0);
    expect(outcome(env.ledger, ['retry-1']).twice).toEqual([]);
  });

  it('Redis-atomic mode: every effect applied exactly once; handler re-runs counted', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `ra-${i}`);
    const sinkOf = (e: TestEnv) => `${e.prefix}:sink:`;
    const run = await pausedRun('redis-pause-atomic', ATOMIC_LEDGER, ids, (e) => ({ ledger: e.ledger, sink: sinkOf(e), sleepMs: 120 }));
    const sink = sinkOf(env!);
    const redis = new Redis(server!.url);
    try {
      const values = await redis.mget(ids.map((id) => `${sink}${id}`));
      expect(values.filter((v) => v !== '1')).toEqual([]); // every id once: none missing, none twice
    } finally {
      redis.disconnect();
    }
    const o = outcome(env!.ledger, ids);
    expect(o.lost).toEqual([]);
    console.info(`redis SIGSTOP ${PAUSE_MS} ms (lease ${LEASE}), Redis-atomic: every effect applied once; handler runs finished twice ${o.twice.length} (effects refused), runs cut short ${o.cutShort}; ${late(ids)}; leases lost ${run.leaseLost}, store errors ${run.storeErrors}`);
  });
});
