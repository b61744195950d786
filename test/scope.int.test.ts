import { afterEach, describe, expect, it } from 'vitest';
import { Replica, encodeRecord, fingerprint } from '../src/index.js';
import { LEDGER_HANDLER, body, executions, publishRaw, testEnv, waitFor, type TestEnv } from './helpers/services.js';

/** One event fanned out to two services' queues, each with its own pool. */
describe('dedup scope', () => {
  let env: TestEnv;
  let replicas: Replica[] = [];
  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    replicas = [];
    // The second consumer's queue and the retry and dead-letter queues its replica declared.
    for (const q of ['', '.retry', '.dlq']) await env.ch.deleteQueue(`${env.queue}.email${q}`).catch(() => {});
    await env.cleanup();
  });

  const ids = Array.from({ length: 100 }, (_, i) => `evt-${i}`);
  const fanOut = async (ledgers: [string, string]): Promise<[string, string]> => {
    const queues: [string, string] = [env.queue, `${env.queue}.email`];
    await env.ch.assertQueue(queues[1], { durable: true });
    for (const [q, ledger] of [[queues[0], ledgers[0]], [queues[1], ledgers[1]]] as const) {
      await publishRaw(env.ch, q, ids.map((id) => body(id, { ledger })));
    }
    return queues;
  };
  const start = async (queue: string, extra: Record<string, unknown> = {}): Promise<Replica> => {
    const r = await new Replica({ queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, logLevel: 'silent', ...extra }).start();
    replicas.push(r);
    return r;
  };
  const settled = (n: number) => waitFor(() => replicas.reduce((s, r) => s + r.stats.deliveries, 0) === n && replicas.every((r) => r.stats.inFlight === 0), 30_000, `${n} deliveries settled`);

  it('by default each queue is its own id space: both services run every id once', async () => {
    env = await testEnv('scope');
    const ledgers: [string, string] = [env.ledger, `${env.ledger}.email`];
    const [billing, email] = await fanOut(ledgers);
    await start(billing);
    await start(email);
    await settled(2 * ids.length);
    for (const ledger of ledgers) {
      const runs = executions(ledger);
      expect(runs.size).toBe(ids.length);
      expect([...runs.values()].every((n) => n === 1)).toBe(true);
    }
  });

  it('--dedup-scope names an id space two queues share on purpose: each id runs once in all', async () => {
    env = await testEnv('scope-shared');
    const [billing, email] = await fanOut([env.ledger, env.ledger]);
    const a = await start(billing, { dedupScope: 'shared' });
    const b = await start(email, { dedupScope: 'shared' });
    await settled(2 * ids.length);
    const runs = executions(env.ledger);
    expect(runs.size).toBe(ids.length);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(a.stats.completed + b.stats.completed).toBe(ids.length);
  });

  it('a completion record written before scopes (<prefix>:done:<id>) is still honoured', async () => {
    env = await testEnv('scope-legacy');
    const msg = body('old-1', { ledger: env.ledger });
    await env.redis.set(`${env.prefix}:done:old-1`, encodeRecord(fingerprint(Buffer.from(msg.content)), undefined, 256), 'PX', 60_000);
    await publishRaw(env.ch, env.queue, [msg, body('new-1', { ledger: env.ledger })]);
    const r = await start(env.queue);
    await settled(2);
    expect(r.stats.duplicates.done).toBe(1);
    expect([...executions(env.ledger).keys()]).toEqual(['new-1']);
  });
});
