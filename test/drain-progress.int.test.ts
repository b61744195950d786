/** A drain's progress line names the ids it waits for. */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnCli, startArgs, type ReplicaProcess } from './helpers/processes.js';
import { LEDGER_HANDLER, body, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';

describe('drain progress', () => {
  let env: TestEnv;
  let proc: ReplicaProcess | undefined;
  afterEach(async () => {
    if (proc && proc.child.exitCode === null) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
    await env.cleanup();
  });

  it('names at most 10 of the ids it waits for, beside their count', async () => {
    env = await testEnv('drain-ids');
    const holdFile = join(dirname(env.ledger), 'release');
    proc = spawnCli(startArgs({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--threads', '1', '--concurrency', '16'] }));
    await proc.waitForLog('replica started');
    const ids = Array.from({ length: 12 }, (_, i) => `held-${i}`);
    await publishRaw(env.ch, env.queue, ids.map((id) => body(id, { ledger: env.ledger, holdFile })));
    await waitFor(() => existsSync(env.ledger) && readLedger(env.ledger).filter((l) => l.ev === 'start').length === 12, 20_000, 'all 12 running');
    proc.child.kill('SIGTERM');
    const progress = await proc.waitForLog('draining: waiting for running handlers', 15_000);
    expect(progress.inFlight).toBe(12);
    expect(progress.ids).toHaveLength(10);
    expect(ids).toEqual(expect.arrayContaining(progress.ids as string[]));
    writeFileSync(holdFile, '');
    expect(await proc.exited).toBe(0);
  });
});
