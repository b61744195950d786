import { afterEach, describe, expect, it } from 'vitest';
import { HEADERS, Replica } from '../src/index.js';
import { LEDGER_HANDLER, body, drain, executions, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { keysFor } from '../src/store/keys.js';

describe('handler failures', () => {
  let env: TestEnv;
  let replica: Replica | undefined;
  afterEach(async () => {
    await replica?.stop();
    replica = undefined;
    await env.cleanup();
  });

  const start = async (): Promise<Replica> => {
    replica = await new Replica({
      queue: env.queue,
      prefix: env.prefix,
      handler: LEDGER_HANDLER,
      threads: 1,
      maxAttempts: 3,
      retryDelayMs: '50ms',
      logLevel: 'silent',
    }).start();
    return replica;
  };

  it('a handler that throws twice then succeeds runs three times and completes once', async () => {
    env = await testEnv('flaky');
    const r = await start();
    await publishRaw(env.ch, env.queue, [body('flaky-1', { ledger: env.ledger, failTimes: 2 })]);
    await waitFor(() => r.stats.completed === 1, 20_000, 'completion');

    const ledger = readLedger(env.ledger);
    expect(ledger.filter((l) => l.ev === 'start').map((l) => l.attempt)).toEqual([1, 2, 3]);
    expect(ledger.filter((l) => l.ev === 'done').map((l) => l.attempt)).toEqual([3]);
    expect(r.stats.retried).toBe(2);
    expect(await drain(env.ch, `${env.queue}.dlq`)).toHaveLength(0);
  });

  it('a handler that always throws ends in the dead-letter queue with the reason', async () => {
    env = await testEnv('poison');
    const r = await start();
    await publishRaw(env.ch, env.queue, [body('poison-1', { ledger: env.ledger, alwaysFail: true })]);
    await waitFor(() => r.stats.deadLettered.HANDLER_FAILED === 1, 20_000, 'dead-letter');

    const [dead, ...more] = await drain(env.ch, `${env.queue}.dlq`);
    expect(more).toHaveLength(0);
    const h = dead!.properties.headers!;
    expect(h[HEADERS.reason]).toBe('HANDLER_FAILED');
    expect(h[HEADERS.error]).toMatch(/always fails \(attempt 3\)/);
    expect(h[HEADERS.attempts]).toBe(3);
    expect(h[HEADERS.id]).toBe('poison-1');
    expect(JSON.parse(dead!.content.toString()).message_id).toBe('poison-1');
    expect(readLedger(env.ledger).filter((l) => l.ev === 'start')).toHaveLength(3);
    // Dead-lettering resets the attempt count, so a replay from the DLQ starts at attempt 1.
    expect(await env.redis.exists(keysFor(env.prefix, env.queue).fence('poison-1'))).toBe(0);
  });

  it('a worker thread that calls process.exit is replaced and the message retried', async () => {
    env = await testEnv('exit');
    const r = await start();
    await publishRaw(env.ch, env.queue, [body('exit-1', { ledger: env.ledger, exitOnAttempt: 1 }), body('after-1', { ledger: env.ledger })]);
    await waitFor(() => r.stats.completed === 2, 20_000, 'both completed');

    expect(executions(env.ledger)).toEqual(new Map([['exit-1', 1], ['after-1', 1]]));
    expect(readLedger(env.ledger).find((l) => l.id === 'exit-1' && l.ev === 'done')!.attempt).toBe(2);
    expect(r.stats.retried).toBe(1);
  });
});
