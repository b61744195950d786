/**
 * Redlock's known hole, on three masters of the test's own: replica A holds an id's
 * lease on a bare majority (masters 1 and 2; master 3 did not grant it, modelled by a
 * stale grant there that expires 1.5 s later), then master 2 restarts empty (no
 * persistence) while the handler runs. Restarted at once, master 2 grants the id again
 * and, with master 3, gives replica B a second majority: both run the id (B with a higher
 * fencing token: master 1, refusing B, reports A's). Restarted only after a lease length
 * (the operator advice), B cannot get a majority until A's lease is gone, and A's run,
 * having lost its quorum at its next renewal, is stopped before it finishes.
 */
import { writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Replica } from '../src/index.js';
import { keysFor } from '../src/store/keys.js';
import { sleep } from './helpers/fault-outcome.js';
import { startRedisServer, type RedisServer } from './helpers/redis-servers.js';
import { AMQP_URL, LEDGER_HANDLER, body, executions, publishRaw, queueDepth, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { holdLease } from './helpers/leases.js';

const LEASE_MS = 12_000;
const ID = 'hole-1';

describe('one of three Redlock masters restarted empty while a lease is held', () => {
  let env: TestEnv | undefined;
  let masters: RedisServer[] = [];
  let replicas: Replica[] = [];
  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await Promise.all(masters.map((m) => m.kill()));
    await env?.cleanup();
    [env, masters, replicas] = [undefined, [], []];
  });

  /** A runs the id, master 2 goes down and comes back empty after `restartDelayMs`, B gets a copy. */
  async function scenario(tag: string, restartDelayMs: number) {
    env = await testEnv(tag);
    masters = [await startRedisServer(), await startRedisServer(), await startRedisServer()];
    const opts = { amqpUrl: AMQP_URL, redisUrls: masters.map((m) => m.url), queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, prefetch: 1, lockTtlMs: LEASE_MS, logLevel: 'silent' as const };
    const a = await new Replica(opts).start();
    replicas = [a];
    const go = `${env.ledger}.go`;
    const work = body(ID, { ledger: env.ledger, holdFile: go });

    // Master 3 does not grant A's lease: a stale grant of the id is there, for 1.5 s more.
    const third = new Redis(masters[2]!.url);
    await holdLease(third, keysFor(env.prefix, env.queue).lock(ID), 'a-grant-that-expires', 1500, 0); // no count: a grant master 3 never counted
    third.disconnect();
    await publishRaw(env.ch, env.queue, [work]);
    await waitFor(() => readLedger(env!.ledger).length === 1, 20_000, 'A started the id');

    const downAt = Date.now();
    await masters[1]!.kill();
    const back = (async () => {
      await sleep(restartDelayMs);
      masters[1] = await startRedisServer(masters[1]!.port); // the same port, empty
      return Date.now();
    })();
    const b = await new Replica(opts).start();
    replicas.push(b);
    await publishRaw(env.ch, env.queue, [work]); // A holds one delivery (prefetch 1): the copy goes to B
    await waitFor(() => readLedger(env!.ledger).filter((l) => l.ev === 'start').length === 2, restartDelayMs + 20_000, 'a second run started');
    const bStartedAt = Date.now();
    writeFileSync(go, ''); // both handlers may finish now, if still running
    const backAt = await back;
    await waitFor(async () => replicas.every((r) => r.stats.inFlight === 0) && (await queueDepth(env!.ch, env!.queue)) === 0, 30_000, 'both copies settled');
    await sleep(500);
    const [aStart, bStart] = readLedger(env.ledger).filter((l) => l.ev === 'start');
    const done = readLedger(env.ledger).filter((l) => l.ev === 'done');
    return { a, b, aStart: aStart!, bStart: bStart!, done, bWaitedMs: bStartedAt - downAt, downMs: backAt - downAt };
  }

  it('restarted at once: a second majority is granted while A runs; the id runs twice, the second run with a higher token', async () => {
    const s = await scenario('redlock-hole', 0);
    expect(s.bStart.thread).not.toBe(s.aStart.thread);
    // Both runs finished: A had not yet renewed (and found its quorum gone) when B started.
    expect(executions(env!.ledger).get(ID)).toBe(2);
    expect(s.done.map((l) => l.thread).sort()).toEqual([s.aStart.thread, s.bStart.thread].sort());
    // Fencing still tells them apart: master 2's counter restarted with its data, but master 1,
    // refusing B for A's lease, reports A's token, and B's grant is lifted above it.
    expect([s.aStart.fence, s.bStart.fence]).toEqual([1, 2]);
    // One completion recorded (one majority); the other copy acked against it.
    expect(s.a.stats.completed + s.b.stats.completed).toBe(1);
    console.info(`redlock master restarted empty at once: id ran ${executions(env!.ledger).get(ID)} times, tokens ${s.aStart.fence}/${s.bStart.fence}; B started ${s.bWaitedMs} ms after master 2 went down; A: leases lost ${s.a.stats.leaseLost}`);
  });

  it(`restarted after a lease length (${LEASE_MS / 1000} s): A's run is stopped before another can start; the id runs once`, async () => {
    const s = await scenario('redlock-delayed', LEASE_MS + 1000);
    expect(s.a.stats.leaseLost).toBe(1); // its renewal found no majority: signal, thread terminated
    // The second run (B's copy, or A's own delivery requeued after the loss) is the only one to finish.
    expect(executions(env!.ledger).get(ID)).toBe(1);
    expect(s.done.map((l) => l.thread)).toEqual([s.bStart.thread]);
    expect(s.bStart.thread).not.toBe(s.aStart.thread);
    expect(s.bStart.fence).toBeGreaterThan(s.aStart.fence);
    expect(s.bStart.t).toBeGreaterThan(s.aStart.t + LEASE_MS / 3); // not before A's renewal found the quorum gone
    expect(s.a.stats.completed + s.b.stats.completed).toBe(1);
    console.info(`redlock master restarted after ${s.downMs} ms: id ran ${executions(env!.ledger).get(ID)} time, tokens ${s.aStart.fence}/${s.bStart.fence}; the second run started ${s.bWaitedMs} ms after master 2 went down; A: leases lost ${s.a.stats.leaseLost}`);
  });
});
