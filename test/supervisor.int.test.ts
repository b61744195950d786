import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LEDGER_HANDLER, body, executions, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { spawnCli } from './helpers/processes.js';
import { startSupervisor, type SupervisorProcess } from './helpers/supervisor.js';
import { heldLeases } from './helpers/leases.js';

const LOADS_ONCE = fileURLToPath(new URL('./fixtures/loads-once-handler.mjs', import.meta.url));

describe('supervisor', () => {
  let env: TestEnv;
  let sup: SupervisorProcess | undefined;
  afterEach(async () => {
    if (sup && sup.child.exitCode === null) {
      sup.child.kill('SIGTERM');
      await sup.exited;
    }
    sup = undefined;
    await env.cleanup();
  });

  const cli = async (...args: string[]): Promise<{ code: number | null; out: string }> => {
    const p = spawnCli(args);
    let out = '';
    p.child.stdout!.removeAllListeners('data');
    p.child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    return { code: await p.exited, out };
  };

  it('scales 1 -> 3 -> 1 while messages flow: every id executed once, nothing lost, status shows each step', async () => {
    env = await testEnv('scale');
    sup = await startSupervisor({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--replicas', '1', '--threads', '1', '--prefetch', '20'] });
    const ids = Array.from({ length: 1500 }, (_, i) => `s-${i}`);
    // Messages flow through every step: a third of the ids while scaling up, a third
    // once three replicas run (so they share work however slow start-up is here), a
    // third while scaling down.
    const open: (() => void)[] = [];
    const gates = [Promise.resolve(), new Promise<void>((r) => open.push(r)), new Promise<void>((r) => open.push(r))];
    const publishing = (async () => {
      for (let i = 0; i < ids.length; i += 100) {
        await gates[Math.floor(i / 500)];
        const chunk = ids.slice(i, i + 100);
        await publishRaw(env.ch, env.queue, [...chunk, ...chunk].map((id) => body(id, { ledger: env.ledger, sleepMs: 2 })));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    const up = await cli('scale', '3', '--admin', sup.admin, '--json');
    expect(up.code).toBe(0);
    expect(JSON.parse(up.out).replicas).toBe(3);
    const three = await sup.waitForStatus((s) => s.slots.filter((x) => x.state === 'ready').length === 3, '3 replicas ready');
    expect(new Set(three.slots.map((x) => x.pid)).size).toBe(3);
    open[0]!();
    await waitFor(() => new Set(readLedger(env.ledger).map((l) => l.pid)).size >= 2, 30_000, 'a second replica at work');

    open[1]!();
    const down = await cli('scale', '1', '--admin', sup.admin);
    expect(down.code).toBe(0);
    expect(down.out).toMatch(/READY: supervisor on queue \S+, \d\/1 replica\(s\) consuming/);
    const one = await sup.waitForStatus((s) => s.slots.length === 1, 'back to 1 replica');
    expect(one.slots[0]!.state).toBe('ready');

    await publishing;
    await waitFor(async () => executions(env.ledger).size === ids.length && (await env.ch.checkQueue(env.queue)).messageCount === 0, 60_000, 'all ids executed');
    const status = await sup.waitForStatus((s) => s.totals.inFlight === 0 && s.totals.completed === ids.length, 'totals settle');
    expect([...executions(env.ledger).values()].filter((n) => n > 1)).toEqual([]);
    expect(status.totals.completed).toBe(ids.length);
    expect(status.totals.duplicates.done + status.totals.duplicates['in-flight']).toBe(ids.length);
    // Replicas really shared the work.
    expect(new Set(readLedger(env.ledger).map((l) => l.pid)).size).toBeGreaterThanOrEqual(2);
    sup.child.kill('SIGTERM');
    expect(await sup.exited).toBe(0);
  });

  it('SIGTERM with handlers in flight: running ones finish and are acked, waiting ones go back unstarted, nothing runs twice', async () => {
    env = await testEnv('drain');
    sup = await startSupervisor({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--threads', '2', '--prefetch', '10'] });
    const ids = Array.from({ length: 6 }, (_, i) => `d-${i}`);
    await publishRaw(env.ch, env.queue, ids.map((id) => body(id, { ledger: env.ledger, sleepMs: 1000 })));
    await waitFor(() => readLedger(env.ledger).filter((l) => l.ev === 'start').length >= 2, 20_000, 'handlers running');

    sup.child.kill('SIGTERM');
    expect(await sup.exited).toBe(0);
    const started = readLedger(env.ledger).filter((l) => l.ev === 'start').map((l) => l.id);
    expect(started.length).toBeGreaterThanOrEqual(2);
    expect(new Set(started).size).toBe(started.length);
    expect(executions(env.ledger)).toEqual(new Map(started.map((id) => [id, 1])));
    expect((await env.ch.checkQueue(env.queue)).messageCount).toBe(ids.length - started.length);
    expect(await heldLeases(env.redis, env.prefix, env.queue)).toEqual([]);
  });

  it('a second SIGTERM stops now: running handlers aborted and requeued, no replica left behind', async () => {
    env = await testEnv('stop-now');
    sup = await startSupervisor({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--replicas', '2', '--threads', '1', '--prefetch', '5'] });
    const pids = (await sup.status()).slots.map((s) => s.pid!);
    const ids = Array.from({ length: 4 }, (_, i) => `n-${i}`);
    await publishRaw(env.ch, env.queue, ids.map((id) => body(id, { ledger: env.ledger, sleepMs: 60_000 })));
    await waitFor(() => readLedger(env.ledger).filter((l) => l.ev === 'start').length >= 2, 20_000, 'handlers running');

    const t0 = Date.now();
    sup.child.kill('SIGTERM');
    await sup.waitForLog('shutdown requested: draining (signal again to stop now)');
    sup.child.kill('SIGTERM');
    expect(await sup.exited).toBe(0);
    // Well inside the 30 s drain timeout the handlers would otherwise get.
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(readLedger(env.ledger).filter((l) => l.ev === 'done')).toEqual([]);
    expect((await env.ch.checkQueue(env.queue)).messageCount).toBe(ids.length);
    expect(await heldLeases(env.redis, env.prefix, env.queue)).toEqual([]);
  });

  it('restarts a crashed replica with backoff', async () => {
    env = await testEnv('restart');
    sup = await startSupervisor({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--threads', '1'] });
    const before = (await sup.status()).slots[0]!;
    process.kill(before.pid!, 'SIGKILL');

    const after = await sup.waitForStatus((s) => s.restarts === 1 && s.slots[0]?.state === 'ready', 'restart');
    expect(after.slots[0]!.pid).not.toBe(before.pid);
    expect(after.slots[0]!.restarts).toBe(1);
    const backoff = sup.logs.find((l) => l.msg === 'restarting replica after backoff');
    expect(backoff).toMatchObject({ slot: 0, delayMs: 250 });
    expect(sup.logs.find((l) => l.msg === 'replica died')).toMatchObject({ signal: 'SIGKILL' });

    // A second crash right away doubles the delay.
    process.kill(after.slots[0]!.pid!, 'SIGKILL');
    await sup.waitForStatus((s) => s.restarts === 2 && s.slots[0]?.state === 'ready', 'second restart');
    expect(sup.logs.filter((l) => l.msg === 'restarting replica after backoff').map((l) => l.delayMs)).toEqual([250, 500]);
  });

  it('stops with a clear error on a crash loop', async () => {
    env = await testEnv('loop');
    // The handler passes the check before any replica starts, then fails to load in every replica.
    const marker = join(mkdtempSync(join(tmpdir(), 'dedup-loads-once-')), 'loaded');
    const p = spawnCli(['start', '--queue', env.queue, '--prefix', env.prefix, '--handler', LOADS_ONCE, '--admin', '127.0.0.1:0', '--threads', '1'], { DEDUP_TEST_LOADED_MARKER: marker });
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toMatch(/replica failed to start 3 times in a row; giving up: --handler .*loads-once-handler\.mjs cannot be loaded: .*this handler loads only once/);
    expect(p.logs.filter((l) => l.msg === 'replica died')).toHaveLength(3);
  });

  it('replicas start at different nodes of an --amqp list, and status shows which', async () => {
    env = await testEnv('spread');
    // Three names of the one local broker stand for the nodes of a cluster.
    const nodes = [10, 11, 12].map((h) => `amqp://guest:guest@127.0.0.1:5672?heartbeat=${h}`);
    sup = await startSupervisor({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--replicas', '3', '--threads', '1', '--amqp', nodes.join(',')] });
    const status = await sup.waitForStatus((s) => s.slots.length === 3 && s.slots.every((x) => x.amqp !== undefined), 'every replica reports its node');
    expect(status.slots.map((x) => x.amqp).sort()).toEqual(nodes.map((n) => n.replace('guest:guest', 'guest:***')));
  });

  it('serves metrics with the right values after a known workload, and guards mutations with the token', async () => {
    env = await testEnv('metrics');
    sup = await startSupervisor({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--replicas', '2', '--threads', '1', '--admin-token', 'sekrit-token'] });
    const ids = Array.from({ length: 100 }, (_, i) => `m-${i}`);
    await publishRaw(env.ch, env.queue, [
      ...ids.map((id) => body(id, { ledger: env.ledger })),
      ...ids.slice(0, 50).map((id) => body(id, { ledger: env.ledger })),
      { content: "{'message_id': 'py'}" },
      { content: '{"data": "no id"}' },
    ]);
    await waitFor(async () => (await sup!.metrics()).get('dedup_deliveries_total') === 152 && (await sup!.status()).totals.inFlight === 0, 30_000, 'all deliveries counted');

    const m = await sup.metrics();
    expect(m.get('dedup_completed_total')).toBe(100);
    expect(m.get('dedup_duplicates_total{reason="done"}')! + m.get('dedup_duplicates_total{reason="in-flight"}')!).toBe(50);
    expect(m.get('dedup_dead_lettered_total{reason="NOT_JSON"}')).toBe(1);
    expect(m.get('dedup_dead_lettered_total{reason="NO_ID"}')).toBe(1);
    expect(m.get('dedup_handler_duration_seconds_count')).toBe(100);
    expect(m.get('dedup_handler_duration_seconds_bucket{le="+Inf"}')).toBe(100);
    expect(m.get('dedup_replicas{state="ready"}')).toBe(2);
    expect(m.get('dedup_in_flight')).toBe(0);
    expect(m.get('dedup_replica_restarts_total')).toBe(0);

    expect((await fetch(`http://${sup.admin}/healthz`)).status).toBe(200);
    expect((await fetch(`http://${sup.admin}/readyz`)).status).toBe(200);
    const denied = await fetch(`http://${sup.admin}/scale`, { method: 'POST', body: '{"replicas":1}' });
    expect(denied.status).toBe(401);
    const bad = await fetch(`http://${sup.admin}/scale`, { method: 'POST', body: '{"replicas":0}', headers: { authorization: 'Bearer sekrit-token' } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'replicas must be an integer from 1 to 64' });
    const ok = await cli('scale', '--threads', '2', '--admin', sup.admin, '--admin-token', 'sekrit-token', '--json');
    expect(ok.code).toBe(0);
    await sup.waitForStatus((s) => s.slots.every((x) => x.threads === 2), 'threads replaced');
    expect((await sup.status()).threads).toBe(2);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
