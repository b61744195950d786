/** Faults: the broker closes connections, the queue vanishes, Redis goes away, leases are lost. */
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { HEADERS, Producer, Replica } from '../src/index.js';
import { LEDGER_HANDLER, AMQP_URL, body, drain, executions, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { closeConnections } from './helpers/broker.js';
import { startRedisServer, type RedisServer } from './helpers/redis-servers.js';
import { spawnCli, startArgs, type ReplicaProcess } from './helpers/processes.js';

const REPLICA_CONNECTION = `dedup-pool ${hostname()}:${process.pid}`;

describe('faults', () => {
  let env: TestEnv;
  let replicas: Replica[] = [];
  let procs: ReplicaProcess[] = [];
  let redisServers: RedisServer[] = [];
  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    for (const p of procs) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await Promise.all(redisServers.map((s) => s.kill()));
    replicas = [];
    procs = [];
    redisServers = [];
    await env.cleanup();
  });

  const start = async (extra: Record<string, unknown> = {}): Promise<Replica> => {
    const r = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 2, logLevel: 'silent', ...extra }).start();
    replicas.push(r);
    return r;
  };

  it('the broker closes the connection mid-run: the replica reconnects; old deliveries are not acked on the new channel', async () => {
    env = await testEnv('close-conn');
    const r = await start({ prefetch: 10 });
    const ids = Array.from({ length: 60 }, (_, i) => `c-${i}`);
    await publishRaw(env.ch, env.queue, ids.map((id) => body(id, { ledger: env.ledger, sleepMs: 50 })));
    await waitFor(() => r.stats.completed >= 10, 20_000, 'some completed');

    expect(closeConnections(REPLICA_CONNECTION)).toBe(1);
    await waitFor(() => r.stats.reconnects === 1 && r.ready, 20_000, 'reconnected');
    await waitFor(async () => executions(env.ledger).size === ids.length && (await env.ch.checkQueue(env.queue)).messageCount === 0 && r.stats.inFlight === 0, 30_000, 'all done');

    // Handlers that finished after the close recorded completion; their redeliveries were acked as duplicates.
    expect([...executions(env.ledger).values()].every((n) => n === 1)).toBe(true);
    expect(r.stats.completed).toBe(ids.length);
    const dups = r.stats.duplicates.done + r.stats.duplicates['in-flight'];
    expect(dups).toBe(r.stats.deliveries - ids.length - r.stats.requeued);
  });

  it('the publisher re-sends unconfirmed messages with the same id after its connection is closed', async () => {
    env = await testEnv('pub-retry');
    const r = await start();
    const producer = new Producer({ queue: env.queue, amqpUrl: AMQP_URL });
    const ids = Array.from({ length: 200 }, (_, i) => `p-${i}`);
    let closed = 0;
    for (const [i, id] of ids.entries()) {
      if (i === 100) closed = closeConnections(`dedup-pool producer ${process.pid}`);
      expect(await producer.publish({ message_id: id, data: { ledger: env.ledger } })).toBe(id);
    }
    await producer.close();
    expect(closed).toBe(1);
    await waitFor(() => executions(env.ledger).size === ids.length, 20_000, 'all executed');
    expect([...executions(env.ledger).values()].every((n) => n === 1)).toBe(true);
  });

  it('the queue is deleted under a running replica: it logs, reports not ready, and re-subscribes', async () => {
    env = await testEnv('cancel');
    const r = await start();
    await env.ch.deleteQueue(env.queue);
    await waitFor(() => r.stats.cancellations === 1, 10_000, 'cancellation seen');
    await waitFor(() => r.ready, 20_000, 're-subscribed');
    await publishRaw(env.ch, env.queue, [body('after-cancel', { ledger: env.ledger })]);
    await waitFor(() => r.stats.completed === 1, 10_000, 'message after re-subscribe');
    expect(executions(env.ledger).get('after-cancel')).toBe(1);
  });

  it('Redis goes down: nothing is acked without a completion record; consumption pauses and resumes', async () => {
    env = await testEnv('redis-down');
    const server = await startRedisServer();
    redisServers.push(server);
    const r = await start({ redisUrls: [server.url], prefetch: 5, lockTtlMs: 1000 });
    const ids = Array.from({ length: 100 }, (_, i) => `r-${i}`);
    await publishRaw(env.ch, env.queue, ids.map((id) => body(id, { ledger: env.ledger, sleepMs: 20 })));
    await waitFor(() => r.stats.completed >= 20, 20_000, 'some completed');

    const downAt = Date.now();
    await server.kill();
    await waitFor(() => r.stats.storeErrors > 0 && !r.ready, 20_000, 'paused');
    const completedWhileDown = r.stats.completed;
    await new Promise((res) => setTimeout(res, 1500));
    expect(r.stats.completed).toBe(completedWhileDown);
    expect(await env.ch.checkQueue(env.queue)).toMatchObject({ messageCount: expect.any(Number) });

    // The same port again, empty (no persistence): the replica resumes by itself.
    const again = await startRedisServer(server.port);
    redisServers.push(again);
    await waitFor(() => r.ready, 30_000, 'resumed');
    await waitFor(async () => executions(env.ledger).size === ids.length && (await env.ch.checkQueue(env.queue)).messageCount === 0 && r.stats.inFlight === 0, 60_000, 'all done');

    // Each id published once: a second run means the first finished while Redis was gone and could
    // not be recorded. That is at most what the replica held (prefetch 5), each finished around the
    // outage (2 s of slack: a run's record is written in a later turn, which a busy machine delays).
    const ledger = readLedger(env.ledger);
    const twice = [...executions(env.ledger)].filter(([, n]) => n > 1).map(([id]) => id);
    expect(twice.length).toBeLessThanOrEqual(5);
    for (const id of twice) expect(ledger.some((l) => l.id === id && l.ev === 'done' && l.t >= downAt - 2000), `duplicate ${id} is explained`).toBe(true);
    expect(r.stats.completed).toBe(ids.length);
  });

  it('a handler outlives its lease while the event loop is blocked: signal aborts, the thread is terminated, no stale completion', async () => {
    env = await testEnv('lease-loss');
    const a = await start({ prefetch: 1, threads: 1, lockTtlMs: 600 });
    // Long enough to outlast B's start-up, the 2 s stall and A's grace period on a slow machine.
    const aSleepMs = 6000;
    await publishRaw(env.ch, env.queue, [body('L-1', { ledger: env.ledger, sleepMs: aSleepMs })]);
    await waitFor(() => readLedger(env.ledger).some((l) => l.ev === 'start'), 10_000, 'A started the handler');

    // A second replica in another process gets a copy of the same id.
    const b = spawnCli(startArgs({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--threads', '1', '--lock-ttl', '600ms', '--log-level', 'debug'] }));
    procs.push(b);
    await b.waitForLog('replica started');
    await publishRaw(env.ch, env.queue, [body('L-1', { ledger: env.ledger, sleepMs: 100 })]);

    // A's event loop stalls (a long GC pause): its lease runs out and B takes the id over.
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      // blocked
    }
    await waitFor(() => a.stats.leaseLost === 1 && a.stats.inFlight === 0, 10_000, 'A noticed the lost lease');
    await waitFor(() => executions(env.ledger).get('L-1') === 1, 10_000, 'B completed L-1');
    // Past the moment A's original handler would have finished, had its thread lived.
    const aStarted = readLedger(env.ledger).find((l) => l.ev === 'start')!.t;
    await new Promise((res) => setTimeout(res, Math.max(0, aStarted + aSleepMs + 500 - Date.now())));

    const runs = readLedger(env.ledger).filter((l) => l.id === 'L-1');
    expect(runs.filter((l) => l.ev === 'start')).toHaveLength(2);
    expect(runs.filter((l) => l.ev === 'done')).toHaveLength(1); // A's thread was terminated before its effect
    expect(runs.find((l) => l.ev === 'done')!.pid).toBe(b.child.pid);
    expect(a.stats.completed).toBe(0);
    // A requeued its copy; whichever replica got it again found B's record. That copy's body
    // differs (its sleepMs), so it is dead-lettered as a conflict, never run again.
    await waitFor(async () => (await env.ch.checkQueue(`${env.queue}.dlq`)).messageCount === 1, 10_000, 'redelivery settled against the record');
    expect(a.stats.requeued).toBe(1);
    expect(executions(env.ledger).get('L-1')).toBe(1);
    const [conflict] = await drain(env.ch, `${env.queue}.dlq`);
    expect(conflict!.properties.headers![HEADERS.reason]).toBe('ID_CONFLICT');
    expect((await env.ch.checkQueue(env.queue)).messageCount).toBe(0);
  });
});
