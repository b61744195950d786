/**
 * A replica's wall clock stepped (an NTP correction, a VM resumed) while its handler
 * runs: leases are timed on the monotonic clock, so neither direction changes when
 * the replica gives a lease up. libfaketime moves the replica process's Date.now()
 * (not its monotonic clock) from a file the test rewrites.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Replica } from '../src/index.js';
import { keysFor } from '../src/store/keys.js';
import { spawnCli, startArgs, type ReplicaProcess } from './helpers/processes.js';
import { AMQP_URL, LEDGER_HANDLER, REDIS_URL, body, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'; // scripts/fault-tools.sh installs it

describe('wall-clock steps on a replica', () => {
  let env: TestEnv | undefined;
  let proxy: TcpProxy | undefined;
  let proc: ReplicaProcess | undefined;
  let other: Replica | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    proxy?.heal();
    if (proc && proc.child.exitCode === null) {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
    await other?.stop();
    await proxy?.close();
    await env?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
    [proc, other, proxy, env, dir] = [];
  });

  /** A replica process whose wall clock the returned function sets, as an offset like "-30" (seconds). */
  async function fakedReplica(redisUrl: string, extra: string[]): Promise<(offset: string) => void> {
    dir = mkdtempSync(join(tmpdir(), 'clock-step-'));
    const file = join(dir, 'offset');
    writeFileSync(file, '+0');
    proc = spawnCli(startArgs({ queue: env!.queue, prefix: env!.prefix, handler: LEDGER_HANDLER, extra: ['--redis', redisUrl, '--threads', '1', ...extra] }), {
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
      FAKETIME_TIMESTAMP_FILE: file,
      FAKETIME_NO_CACHE: '1',
    });
    await proc.waitForLog('replica started');
    return (offset) => writeFileSync(file, offset);
  }

  it('stepped back 30 s while cut from Redis: it still gives the lease up in time; the id runs to completion once', async () => {
    env = await testEnv('clock-back');
    proxy = await startTcpProxy(Number(new URL(REDIS_URL).port || 6379));
    const setClock = await fakedReplica(proxy.url(REDIS_URL), ['--lock-ttl', '2s']);
    const work = { ledger: env.ledger, sleepMs: 6000 };
    await publishRaw(env.ch, env.queue, [body('step-1', work)]);
    await waitFor(() => readLedger(env!.ledger).some((l) => l.ev === 'start'), 20_000, 'the faked replica started the handler');
    proxy.cut(); // its renewals cannot arrive
    setClock('-30');

    // Another replica takes the id over once the lease has expired in Redis, and completes it.
    other = await new Replica({ amqpUrl: AMQP_URL, redisUrls: [REDIS_URL], queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, lockTtlMs: '2s', logLevel: 'silent' }).start();
    await publishRaw(env.ch, env.queue, [body('step-1', work)]);
    await waitFor(() => other!.stats.completed === 1, 30_000, 'the other replica completed the id');
    // Past the moment the first handler would have finished, had its thread lived on.
    await new Promise((r) => setTimeout(r, 2000));
    const runs = readLedger(env.ledger);
    expect(runs.filter((l) => l.ev === 'start')).toHaveLength(2);
    expect(runs.filter((l) => l.ev === 'done').map((l) => l.pid)).toEqual([process.pid]);
  });

  it('stepped forward 30 s: the lease is kept and renewed; the handler is not cut short', async () => {
    env = await testEnv('clock-forward');
    const setClock = await fakedReplica(REDIS_URL, ['--lock-ttl', '2s']);
    await publishRaw(env.ch, env.queue, [body('step-2', { ledger: env.ledger, sleepMs: 4000 })]);
    await waitFor(() => readLedger(env!.ledger).some((l) => l.ev === 'start'), 20_000, 'handler started');
    setClock('+30');
    await waitFor(() => readLedger(env!.ledger).some((l) => l.ev === 'done'), 20_000, 'handler finished');
    const record = keysFor(env.prefix, env.queue);
    await waitFor(async () => (await env!.redis.exists(record.lock('step-2'))) === 0, 10_000, 'lease released after the record');
    const runs = readLedger(env.ledger);
    expect(runs.map((l) => l.ev)).toEqual(['start', 'done']);
    expect(proc!.logs.filter((l) => /lease lost|lease expired/.test(String(l.msg)))).toEqual([]);
    await waitFor(async () => (await env!.ch.checkQueue(env!.queue)).messageCount === 0, 10_000, 'nothing requeued');
  });
});
