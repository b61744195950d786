/**
 * A handler that never settles (no --handler-timeout): it is reported, never silent,
 * and it does not stop its replica from taking other work while a slot is free. One
 * that runs alone (a suspect) holds the others back for a bounded time only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { keysFor } from '../src/store/keys.js';
import { LEDGER_HANDLER, body, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { inProcessPool } from './helpers/in-process.js';
import { startSupervisor, stopSupervisor, type SupervisorProcess } from './helpers/supervisor.js';

describe('hung handlers', () => {
  let env: TestEnv | undefined;
  let sup: SupervisorProcess | undefined;
  afterEach(async () => {
    await stopSupervisor(sup);
    await env?.cleanup();
    [sup, env] = [];
  });

  it('are logged with their id, counted, shown in status, and /readyz says so once every slot is held', async () => {
    env = await testEnv('overdue');
    sup = await startSupervisor({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--threads', '1', '--concurrency', '2', '--overdue-after', '1s'] });
    const readyz = async () => {
      const res = await fetch(`http://${sup!.admin}/readyz`);
      return { code: res.status, text: await res.text() };
    };
    await publishRaw(env.ch, env.queue, [body('hang-1', { ledger: env.ledger, hang: true })]);
    await sup.waitForStatus((s) => s.totals.overdue === 1, 'one handler overdue');
    expect(sup.logs.find((l) => String(l.msg).startsWith('handler overdue'))).toMatchObject({ msgId: 'hang-1', level: 40 });
    // A slot is still free: the replica is ready and takes other work.
    expect(await readyz()).toEqual({ code: 200, text: 'ready (1 handler(s) overdue, past --overdue-after)\n' });
    await publishRaw(env.ch, env.queue, [body('ok-1', { ledger: env.ledger }), body('ok-2', { ledger: env.ledger })]);
    await sup.waitForStatus((s) => s.totals.completed === 2, 'other messages completed beside the hung one');

    await publishRaw(env.ch, env.queue, [body('hang-2', { ledger: env.ledger, hang: true })]);
    await sup.waitForStatus((s) => s.totals.overdue === 2 && !s.ready, 'every slot overdue: not ready');
    expect(await readyz()).toEqual({ code: 503, text: 'not ready (2 handler(s) overdue, past --overdue-after)\n' });
    const metrics = await sup.metrics();
    expect(metrics.get('dedup_handlers_overdue')).toBe(2);
    expect(metrics.get('dedup_handlers_overdue_total')).toBe(2);
  });
});

describe('a suspect that hangs while it runs alone', () => {
  const pool = inProcessPool();

  it('holds the other messages back for the isolation bound only', async () => {
    const e = await pool.env('overdue-alone');
    // An earlier grant of hang-1 that ended in a crash (a replica died holding it): it will run alone.
    await e.redis.set(keysFor(e.prefix, e.queue).fence('hang-1'), '1', 'PX', 60_000);
    const r = await pool.replica({ queue: e.queue, prefix: e.prefix, handler: LEDGER_HANDLER, threads: 1, concurrency: 4, drainTimeoutMs: '100ms' });
    await publishRaw(e.ch, e.queue, [body('hang-1', { ledger: e.ledger, hang: true })]);
    await waitFor(() => readLedger(e.ledger).some((l) => l.id === 'hang-1'), 10_000, 'the suspect started');
    const published = Date.now();
    await publishRaw(e.ch, e.queue, [body('after-1', { ledger: e.ledger }), body('after-2', { ledger: e.ledger })]);
    await waitFor(() => r.stats.completed === 2, 30_000, 'the others ran once the bound passed');
    const waited = Date.now() - published;
    expect(waited).toBeGreaterThan(5_000); // it did run alone for a while
    expect(waited).toBeLessThan(20_000);
  });
});
