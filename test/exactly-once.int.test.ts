import { afterEach, describe, expect, it } from 'vitest';
import { Replica } from '../src/index.js';
import { LEDGER_HANDLER, REDIS_URL, body, executions, publishRaw, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { spawnCli, startArgs } from './helpers/processes.js';
import { idState } from './helpers/records.js';

const IDS = 1000;

/** Each id three times: one copy right after the first, one far away (after every other id). */
function duplicatedBatch(env: TestEnv): ReturnType<typeof body>[] {
  const ids = Array.from({ length: IDS }, (_, i) => `order-${i}`);
  const data = { ledger: env.ledger };
  return [...ids.flatMap((id) => [body(id, data), body(id, data)]), ...ids.map((id) => body(id, data))];
}

describe('each message id is executed once', () => {
  let env: TestEnv;
  let replicas: Replica[] = [];
  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    replicas = [];
    await env.cleanup();
  });

  it('1000 ids published 3 times (adjacent and far apart): one execution each, in one replica', async () => {
    env = await testEnv('once');
    await publishRaw(env.ch, env.queue, duplicatedBatch(env));
    const replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 2, logLevel: 'silent' }).start();
    replicas.push(replica);

    await waitFor(() => replica.stats.completed + replica.stats.duplicates.done + replica.stats.duplicates['in-flight'] === 3 * IDS, 60_000, 'all deliveries settled');
    const counts = executions(env.ledger);
    expect(counts.size).toBe(IDS);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(replica.stats.completed).toBe(IDS);
    expect(replica.stats.duplicates.done + replica.stats.duplicates['in-flight']).toBe(2 * IDS);
    expect(await env.ch.checkQueue(env.queue)).toMatchObject({ messageCount: 0 });
  });

  it('two replica processes racing on the same 1000 duplicated ids: one execution each', async () => {
    env = await testEnv('race');
    const args = startArgs({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--threads', '1', '--prefetch', '50'] });
    const procs = [spawnCli(args), spawnCli(args)];
    await Promise.all(procs.map((p) => p.waitForLog('replica started')));
    // Published once both consume, so both race for it however slow a start-up was.
    await publishRaw(env.ch, env.queue, duplicatedBatch(env));

    await waitFor(async () => (await env.ch.checkQueue(env.queue)).messageCount === 0 && executions(env.ledger).size === IDS, 90_000, 'queue drained');
    for (const p of procs) p.child.kill('SIGTERM');
    expect(await Promise.all(procs.map((p) => p.exited))).toEqual([0, 0]);

    const counts = executions(env.ledger);
    expect(counts.size).toBe(IDS);
    const twice = [...counts].filter(([, n]) => n > 1);
    expect(twice).toEqual([]);
    // Both processes did real work: the race was real.
    const completedPerProcess = procs.flatMap((p) =>
      p.logs.filter((l) => l.msg === 'replica stopped').map((l) => (l.stats as { completed: number }).completed),
    );
    expect(completedPerProcess).toHaveLength(2);
    expect(completedPerProcess.every((completed) => completed > 0)).toBe(true);
  });
});

describe('TypeScript handlers', () => {
  it('runs a .ts handler without a build step', async () => {
    const env = await testEnv('ts-handler');
    const replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: new URL('./fixtures/typed-handler.ts', import.meta.url).pathname, threads: 1, logLevel: 'silent' }).start();
    try {
      await publishRaw(env.ch, env.queue, [{ content: JSON.stringify({ message_id: 'ts-1', data: { ledger: env.ledger, amount: 21 } }) }]);
      await waitFor(() => replica.stats.completed === 1, 20_000, 'completed');
      expect(executions(env.ledger).get('ts-1')).toBe(1);
      expect((await idState(REDIS_URL, env.prefix, env.queue, 'ts-1')).record).toMatch(/:\{"charged":42\}$/);
    } finally {
      await replica.stop();
      await env.cleanup();
    }
  });
});
