/**
 * The fast lane: handlers measured fast run on the replica's main thread, and the lease
 * promise a thread gives still holds there (the watchdog ends a replica whose main thread
 * a handler blocks, before the lease can run out).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HEADERS, Replica } from '../src/index.js';
import { FAST_LANE_AFTER_CALLS } from '../src/threads/placement.js';
import { LEDGER_HANDLER, body, drain, executions, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { startSupervisor, stopSupervisor, type SupervisorProcess } from './helpers/supervisor.js';

const MAIN = 0; // node:worker_threads threadId of the main thread, as the ledger handler writes it

describe('the fast lane', () => {
  let env: TestEnv;
  let replica: Replica | undefined;
  let sup: SupervisorProcess | undefined;
  afterEach(async () => {
    await replica?.stop();
    await stopSupervisor(sup);
    replica = undefined;
    sup = undefined;
    await env.cleanup();
  });

  const fast = (n: number, from = 0) => Array.from({ length: n }, (_, i) => body(`fast-${from + i}`, { ledger: env.ledger }));

  /** A supervisor whose replica runs the ledger handler on its main thread (a short lease, a short handler timeout). */
  const onTheMainThread = async (): Promise<SupervisorProcess> => {
    const started = await startSupervisor({
      queue: env.queue,
      prefix: env.prefix,
      handler: LEDGER_HANDLER,
      extra: ['--threads', '1', '--inline-below-us', '20000', '--lock-ttl', '1s', '--handler-timeout', '300ms', '--max-attempts', '2', '--log-level', 'info'],
    });
    const n = FAST_LANE_AFTER_CALLS * 2;
    await publishRaw(env.ch, env.queue, fast(n));
    await waitFor(() => readLedger(env.ledger).filter((l) => l.ev === 'done' && l.thread === MAIN).length >= 20, 30_000, 'calls on the main thread');
    await started.waitForStatus((s) => s.totals.completed === n, 'the fast messages');
    return started;
  };

  it('a fast handler moves to the main thread once measured; a busy one goes back to the threads; each id runs once', async () => {
    env = await testEnv('fast-lane');
    // A bound the ledger handler (two file appends per call) is under on any machine.
    replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, inlineBelowUs: 20_000, logLevel: 'silent' }).start();
    const n = FAST_LANE_AFTER_CALLS * 3;
    await publishRaw(env.ch, env.queue, fast(n));
    await waitFor(() => replica!.stats.completed === n, 30_000, 'the fast messages');
    const starts = readLedger(env.ledger).filter((l) => l.ev === 'start');
    // Measured on the thread first, then on the main thread.
    expect(starts.slice(0, FAST_LANE_AFTER_CALLS).every((l) => l.thread !== MAIN)).toBe(true);
    expect(starts.filter((l) => l.thread === MAIN).length).toBeGreaterThan(FAST_LANE_AFTER_CALLS / 2);
    expect([...executions(env.ledger).values()].every((c) => c === 1)).toBe(true);
    expect(executions(env.ledger).size).toBe(n);

    // Busier than the bound (synchronous work): the batch that shows it may still be on the main thread; the next go to the thread.
    const slow = (from: number) => Array.from({ length: 16 }, (_, i) => body(`slow-${from + i}`, { ledger: env.ledger, spinMs: 30 }));
    await publishRaw(env.ch, env.queue, slow(0));
    await waitFor(() => replica!.stats.completed === n + 16, 30_000, 'the first slow messages');
    await publishRaw(env.ch, env.queue, slow(16));
    await waitFor(() => replica!.stats.completed === n + 32, 30_000, 'the next slow messages');
    const later = readLedger(env.ledger).filter((l) => l.ev === 'start' && /^slow-(1[6-9]|2\d|3[01])$/.test(l.id));
    expect(later).toHaveLength(16);
    expect(later.filter((l) => l.thread === MAIN)).toEqual([]);
  });

  it('a handler that mostly awaits I/O moves to the main thread too: waiting is no work of its thread', async () => {
    env = await testEnv('fast-lane-io');
    // 8 calls side by side, each waiting 20 ms: a thread is occupied 2.5 ms a call, its event loop working well under 2.
    replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, inlineBelowUs: 2_000, logLevel: 'silent' }).start();
    const n = FAST_LANE_AFTER_CALLS * 3;
    await publishRaw(env.ch, env.queue, Array.from({ length: n }, (_, i) => body(`io-${i}`, { ledger: env.ledger, sleepMs: 20 })));
    await waitFor(() => replica!.stats.completed === n, 60_000, 'the messages');
    const starts = readLedger(env.ledger).filter((l) => l.ev === 'start');
    expect(starts.slice(0, FAST_LANE_AFTER_CALLS).every((l) => l.thread !== MAIN)).toBe(true);
    expect(starts.filter((l) => l.thread === MAIN).length).toBeGreaterThan(FAST_LANE_AFTER_CALLS / 2);
    expect([...executions(env.ledger).values()].every((c) => c === 1)).toBe(true);
    expect(executions(env.ledger).size).toBe(n);
  });

  it('--inline-below-us 0: every call on a thread', async () => {
    env = await testEnv('fast-lane-off');
    replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, inlineBelowUs: 0, logLevel: 'silent' }).start();
    const n = FAST_LANE_AFTER_CALLS * 2;
    await publishRaw(env.ch, env.queue, fast(n));
    await waitFor(() => replica!.stats.completed === n, 30_000, 'the messages');
    expect(readLedger(env.ledger).filter((l) => l.ev === 'start' && l.thread === MAIN)).toEqual([]);
  });

  it('a handler that cannot be loaded on the main thread stays on the threads, and says so once', async () => {
    env = await testEnv('fast-lane-unloadable');
    sup = await startSupervisor({
      queue: env.queue,
      prefix: env.prefix,
      handler: new URL('./fixtures/threads-only-handler.mjs', import.meta.url).pathname,
      extra: ['--threads', '1', '--inline-below-us', '20000', '--log-level', 'info'],
    });
    const n = FAST_LANE_AFTER_CALLS * 3;
    await publishRaw(env.ch, env.queue, fast(n));
    await sup.waitForStatus((s) => s.totals.completed === n, 'every message');
    expect(readLedger(env.ledger).filter((l) => l.ev === 'start' && l.thread === MAIN)).toEqual([]);
    expect([...executions(env.ledger).values()].every((c) => c === 1)).toBe(true);
    const warned = sup.logs.filter((l) => String(l.msg).startsWith('the handler cannot be loaded on the main thread'));
    expect(warned).toHaveLength(1);
    expect(warned[0]!.err).toMatch(/worker threads only/);
    expect((await sup.status()).restarts).toBe(0);
  });

  it('a handler that blocks the main thread: the watchdog ends the replica before the lease ends; the message runs again alone, on a thread', async () => {
    env = await testEnv('watchdog');
    sup = await onTheMainThread();
    await publishRaw(env.ch, env.queue, [body('blocks', { ledger: env.ledger, spinForever: true })]);
    const killed = await sup.waitForLog("a handler is still running at its lease's hard stop and the main thread, blocked, cannot stop it: ending the replica before the lease can pass to another (its messages are redelivered)");
    await waitFor(async () => (await env.ch.checkQueue(`${env.queue}.dlq`)).messageCount === 1, 30_000, 'the dead letter');
    const [dead] = await drain(env.ch, `${env.queue}.dlq`);
    expect(dead!.properties.headers![HEADERS.reason]).toMatch(/^(HANDLER_TIMEOUT|WORKER_DIED|MAX_ATTEMPTS)$/);

    const runs = readLedger(env.ledger).filter((l) => l.id === 'blocks' && l.ev === 'start');
    // First on the main thread, ended by the watchdog within the lease (1 s) of its start...
    expect(runs[0]!.thread).toBe(MAIN);
    expect(Number(killed.time) - runs[0]!.t).toBeLessThan(1000);
    // ...then, a crash suspect, alone on a thread, after the kill: never two runs at once.
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs[1]!.thread).not.toBe(MAIN);
    expect(runs[1]!.t).toBeGreaterThanOrEqual(Number(killed.time));
    expect((await sup.status()).restarts).toBeGreaterThanOrEqual(1);
  });

  it('a handler on the main thread that ignores its abort: the replica ends itself, as a thread would be terminated', async () => {
    env = await testEnv('fast-lane-hang');
    sup = await onTheMainThread();
    await publishRaw(env.ch, env.queue, [body('hangs', { ledger: env.ledger, hang: true })]);
    const ended = await sup.waitForLog('a handler on the main thread ignored its abort signal: ending the replica, as a thread would be terminated (its messages are redelivered)');
    await waitFor(async () => (await env.ch.checkQueue(`${env.queue}.dlq`)).messageCount === 1, 30_000, 'the dead letter');
    const runs = readLedger(env.ledger).filter((l) => l.id === 'hangs' && l.ev === 'start');
    expect(runs[0]!.thread).toBe(MAIN);
    expect(runs[1]!.thread).not.toBe(MAIN);
    expect(runs[1]!.t).toBeGreaterThanOrEqual(Number(ended.time));
  });
});
