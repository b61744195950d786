/** Poison messages end in the dead-letter queue after bounded attempts, whatever they do to the replica. */
import { afterEach, describe, expect, it } from 'vitest';
import { HEADERS, Replica } from '../src/index.js';
import { LEDGER_HANDLER, body, drain, executions, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { startSupervisor, type SupervisorProcess } from './helpers/supervisor.js';

describe('poison messages', () => {
  let env: TestEnv;
  let replica: Replica | undefined;
  let sup: SupervisorProcess | undefined;
  afterEach(async () => {
    await replica?.stop();
    if (sup && sup.child.exitCode === null) {
      sup.child.kill('SIGTERM');
      await sup.exited;
    }
    replica = undefined;
    sup = undefined;
    await env.cleanup();
  });

  const start = async (extra: Record<string, unknown>): Promise<Replica> => {
    replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, maxAttempts: 2, retryDelayMs: '20ms', logLevel: 'silent', ...extra }).start();
    return replica;
  };

  const deadLetterOf = async (reason: string) => {
    await waitFor(async () => (await env.ch.checkQueue(`${env.queue}.dlq`)).messageCount === 1, 30_000, `${reason} dead-letter`);
    const [dead] = await drain(env.ch, `${env.queue}.dlq`);
    expect(dead!.properties.headers![HEADERS.reason]).toBe(reason);
    return dead!;
  };

  it('a handler that exhausts its thread heap: thread replaced, attempts bounded, dead-lettered', async () => {
    env = await testEnv('oom');
    const r = await start({ workerHeapMb: 32 });
    await publishRaw(env.ch, env.queue, [body('oom-1', { ledger: env.ledger, oom: true }), body('fine-1', { ledger: env.ledger })]);
    const dead = await deadLetterOf('WORKER_DIED');
    expect(String(dead.properties.headers![HEADERS.error])).toMatch(/memory/i);
    expect(dead.properties.headers![HEADERS.attempts]).toBe(2);
    await waitFor(() => r.stats.completed === 1, 10_000, 'the good message');
    expect(executions(env.ledger)).toEqual(new Map([['fine-1', 1]]));
  });

  it('a handler that never returns: --handler-timeout aborts it, terminates its thread, dead-letters it', async () => {
    env = await testEnv('hang');
    const r = await start({ handlerTimeoutMs: '300ms' });
    await publishRaw(env.ch, env.queue, [body('hang-1', { ledger: env.ledger, hang: true }), body('fine-2', { ledger: env.ledger })]);
    const dead = await deadLetterOf('HANDLER_TIMEOUT');
    expect(String(dead.properties.headers![HEADERS.error])).toMatch(/--handler-timeout \(300ms\)/);
    expect(readLedger(env.ledger).filter((l) => l.id === 'hang-1' && l.ev === 'start')).toHaveLength(2);
    await waitFor(() => r.stats.completed === 1, 10_000, 'the good message');
  });

  it('a message that kills the whole replica process each time is dead-lettered after --max-attempts', async () => {
    env = await testEnv('killer');
    sup = await startSupervisor({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--threads', '1', '--max-attempts', '3', '--lock-ttl', '500ms'] });
    await publishRaw(env.ch, env.queue, [body('killer-1', { ledger: env.ledger, killProcess: true })]);
    const dead = await deadLetterOf('MAX_ATTEMPTS');
    expect(String(dead.properties.headers![HEADERS.error])).toMatch(/3 attempts ended without completing/);
    // Attempts are counted before the handler runs, so each crash counted.
    expect(readLedger(env.ledger).filter((l) => l.id === 'killer-1' && l.ev === 'start').map((l) => l.attempt)).toEqual([1, 2, 3]);
    // Then the pool works on. (Published only now: a message in flight beside the killer would
    // be in flight at each crash, and might spend its own attempts there.)
    await publishRaw(env.ch, env.queue, [body('fine-3', { ledger: env.ledger })]);
    const status = await sup.waitForStatus((s) => s.slots[0]?.state === 'ready' && s.totals.completed >= 1, 'the good message after the crashes');
    expect(status.restarts).toBe(3);
    expect(executions(env.ledger).get('fine-3')).toBe(1);
  });

  it('a failing handler: each attempt is logged at warn with its place in the retries, the dead-letter carries the stack', async () => {
    env = await testEnv('fail-log');
    sup = await startSupervisor({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--threads', '1', '--max-attempts', '3', '--retry-delay', '50ms'] });
    await publishRaw(env.ch, env.queue, [body('fails-1', { ledger: env.ledger, alwaysFail: true })]);
    const dead = await deadLetterOf('HANDLER_FAILED');
    const stack = String(dead.properties.headers![HEADERS.stack]);
    expect(stack).toMatch(/^Error: always fails \(attempt 3\)\n\s+at handle \(file:\/\/.*ledger-handler\.mjs:\d+:\d+\)/);
    expect(stack.split('\n').length).toBeLessThanOrEqual(20);
    const failures = sup.logs.filter((l) => String(l.msg).startsWith('handler failed'));
    // Delays carry ±20% jitter around 50 ms, then 100 ms.
    expect(failures.map((l) => [l.level, l.msgId, l.attempt, l.maxAttempts])).toEqual([
      [40, 'fails-1', 1, 3],
      [40, 'fails-1', 2, 3],
    ]);
    expect(failures[0]!.msg).toMatch(/^handler failed \(attempt 1 of 3\): retry in (4\d|5\d|60)ms$/);
    expect(failures[1]!.msg).toMatch(/^handler failed \(attempt 2 of 3\): retry in (8\d|9\d|1[01]\d|120)ms$/);
    expect(failures[0]!.stack).toMatch(/always fails \(attempt 1\)/);
    const final = await sup.waitForLog('dead-lettered');
    expect(final).toMatchObject({ level: 40, msgId: 'fails-1', reason: 'HANDLER_FAILED', attempts: 3 });
    expect(final.stack).toBe(stack);
  });

  it('the same id with another body is dead-lettered as a conflict, not silently dropped', async () => {
    env = await testEnv('conflict');
    const r = await start({});
    await publishRaw(env.ch, env.queue, [body('same-1', { ledger: env.ledger, v: 1 })]);
    await waitFor(() => r.stats.completed === 1, 10_000, 'first completed');
    await publishRaw(env.ch, env.queue, [body('same-1', { ledger: env.ledger, v: 1 }), body('same-1', { ledger: env.ledger, v: 2 })]);
    const dead = await deadLetterOf('ID_CONFLICT');
    expect(JSON.parse(dead.content.toString()).data.v).toBe(2);
    expect(dead.properties.headers![HEADERS.id]).toBe('same-1');
    await waitFor(() => r.stats.duplicates.done === 1, 10_000, 'the true duplicate acked');
    expect(executions(env.ledger).get('same-1')).toBe(1);
  });

  it('with --on-conflict ack, the other body is acked as a duplicate', async () => {
    env = await testEnv('conflict-ack');
    const r = await start({ onConflict: 'ack' });
    await publishRaw(env.ch, env.queue, [body('same-2', { ledger: env.ledger, v: 1 })]);
    await waitFor(() => r.stats.completed === 1, 10_000, 'first completed');
    await publishRaw(env.ch, env.queue, [body('same-2', { ledger: env.ledger, v: 2 })]);
    await waitFor(() => r.stats.duplicates.done === 1, 10_000, 'acked as duplicate');
    expect((await env.ch.checkQueue(`${env.queue}.dlq`)).messageCount).toBe(0);
  });
});
