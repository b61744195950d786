import { afterEach, describe, expect, it, vi } from 'vitest';
import { DedupStore, Replica, connectRedis, encodeRecord, fingerprint, keysFor } from '../src/index.js';
import { failure, main } from '../src/cli/main.js';
import { LEDGER_HANDLER, REDIS_URL, body, executions, publishRaw, testEnv, waitFor, type TestEnv } from './helpers/services.js';

/** Run `dedup-pool id ...` in-process; what it printed and its exit code. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    return { code: await main(['id', ...args]), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('dedup-pool id show / forget', () => {
  let env: TestEnv;
  afterEach(async () => env.cleanup());

  it('shows the lease and fencing token while running, refuses to forget then; shows record, result and window once complete; forget lets it begin anew', async () => {
    env = await testEnv('id-cmd');
    const store = new DedupStore([connectRedis(REDIS_URL)], { keys: keysFor(env.prefix, env.queue), lockTtlMs: 20_000, dedupTtlMs: 24 * 3600_000 });
    await waitFor(() => store.healthy(), 5000, 'redis');
    const where = ['--queue', env.queue, '--prefix', env.prefix];
    try {
      const begun = await store.begin('o-1');
      if (begun.state !== 'acquired') throw new Error(`expected a lease, got ${begun.state}`);
      const running = JSON.parse((await cli(['show', 'o-1', ...where, '--json'])).out);
      expect(running).toMatchObject({ id: 'o-1', prefix: env.prefix, scope: env.queue, state: 'running', lease: { token: begun.lease.token }, fencingToken: 1 });
      expect(running.lease.leftMs).toBeGreaterThan(15_000);
      const refused = await cli(['forget', 'o-1', ...where]).catch((err: unknown) => failure(err));
      expect(refused).toMatchObject({ exitCode: 1, message: expect.stringMatching(/o-1 .* is running now: a replica holds its lease/) });

      const print = fingerprint(Buffer.from('the body'));
      expect(await store.complete(begun.lease, encodeRecord(print, '{"n":1}', 256))).toBe(true);
      const done = JSON.parse((await cli(['show', 'o-1', ...where, '--json'])).out);
      expect(done).toMatchObject({ state: 'completed', fingerprint: print, result: { n: 1 } });
      expect(done.lease).toBeUndefined();
      expect(done.windowLeftMs).toBeGreaterThan(24 * 3600_000 - 10_000);
      expect(done.windowLeftMs).toBeLessThanOrEqual(24 * 3600_000 * 1.5);
      expect((await cli(['show', 'o-1', ...where])).out).toMatch(/completed\n  body fingerprint  .{12}\n  result            \{"n":1\}\n  window left       at most \d+h\d+m/);

      expect(await cli(['forget', 'o-1', ...where])).toMatchObject({ code: 0, out: expect.stringMatching(/forgotten: its next delivery runs the handler/) });
      // No record, no lease, and no dead-letter queue to look in: it cannot tell.
      expect(JSON.parse((await cli(['show', 'o-1', ...where, '--json'])).out)).toMatchObject({
        state: 'unknown',
        deadLetters: { queue: `${env.queue}.dlq`, unreadable: expect.stringMatching(/has no dead-letter queue/) },
      });
      await env.ch.assertQueue(`${env.queue}.dlq`, { durable: true });
      expect((await cli(['show', 'o-1', ...where])).out).toMatch(
        new RegExp(`^id o-1 \\(prefix ${env.prefix}, scope ${env.queue.replace(/\./g, '\\.')}\\): never seen: no completion record, no lease, not in the dead-letter queue`),
      );
      expect((await cli(['forget', 'o-1', ...where])).out).toMatch(/no completion record: nothing to forget/);
      const again = await store.begin('o-1');
      expect(again).toMatchObject({ state: 'acquired', lease: { fence: 1 } });
    } finally {
      await store.close();
    }
  });

  it('a forgotten id runs again when redelivered', async () => {
    env = await testEnv('id-forget');
    const replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, logLevel: 'silent' }).start();
    try {
      await publishRaw(env.ch, env.queue, [body('p-1', { ledger: env.ledger })]);
      await waitFor(() => replica.stats.completed === 1, 20_000, 'first run');
      await publishRaw(env.ch, env.queue, [body('p-1', { ledger: env.ledger })]);
      await waitFor(() => replica.stats.duplicates.done === 1, 20_000, 'resend acked as a duplicate');
      expect((await cli(['forget', 'p-1', '--queue', env.queue, '--prefix', env.prefix])).code).toBe(0);
      await publishRaw(env.ch, env.queue, [body('p-1', { ledger: env.ledger })]);
      await waitFor(() => replica.stats.completed === 2, 20_000, 'second run after forget');
      expect(executions(env.ledger).get('p-1')).toBe(2);
    } finally {
      await replica.stop();
    }
  });

  it('tells a dead-lettered id from one never seen, leaving the dead-letter queue as it was', async () => {
    env = await testEnv('id-dlq');
    const replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, maxAttempts: 1, logLevel: 'silent' }).start();
    try {
      await publishRaw(env.ch, env.queue, [body('dl-1', { ledger: env.ledger, alwaysFail: true })]);
      await waitFor(() => replica.stats.deadLettered.MAX_ATTEMPTS === 1 || replica.stats.deadLettered.HANDLER_FAILED === 1, 20_000, 'dead-lettered');
    } finally {
      await replica.stop();
    }
    const where = ['--queue', env.queue, '--prefix', env.prefix];
    const shown = await cli(['show', 'dl-1', ...where]);
    expect(shown.out).toMatch(/^id dl-1 \(prefix .*\): dead-lettered: no completion record or lease, and a copy is in the dead-letter queue\n/);
    expect(shown.out).toMatch(/dead letter {7}in .*\.dlq: (HANDLER_FAILED|MAX_ATTEMPTS) \(.*always fails.*\)/);
    expect(JSON.parse((await cli(['show', 'never-1', ...where, '--json'])).out)).toMatchObject({ state: 'never-seen', deadLetters: { copies: [] } });
    expect((await env.ch.checkQueue(`${env.queue}.dlq`)).messageCount).toBe(1);
  });

  it('bad input gets a clear error', async () => {
    env = await testEnv('id-bad');
    await expect(cli(['show'])).rejects.toThrow(/expected "id show ID" or "id forget ID"/);
    await expect(cli(['show', 'x', '--dedup-buckets', 'many', '--queue', 'q'])).rejects.toThrow(/--dedup-buckets \(env DEDUP_BUCKETS\) must be an integer/);
    await expect(cli(['show', 'x'])).rejects.toThrow(/--queue is required/);
    expect((await cli(['--help'])).out).toMatch(/dedup-pool id show ID --queue Q/);
  });
});
