/**
 * Several hosts, each with its own supervisor, sharing one RabbitMQ and one Redis
 * and nothing else. One host is cut off mid-run: its messages go to the others,
 * nothing is lost, and every duplicate execution is one the design allows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LEDGER_HANDLER, body, executions, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { createHost, netnsUnavailable, type TestHost } from './helpers/netns.js';
import { startSupervisor, type SupervisorProcess } from './helpers/supervisor.js';

const IDS = 400;
/** Short heartbeats and leases, so the broker and the lock notice a vanished host within seconds. */
const LOCK_TTL_MS = 2000;
const FAST_FAILOVER = ['--threads', '2', '--prefetch', '10', '--lock-ttl', `${LOCK_TTL_MS}ms`];

describe('many hosts', () => {
  let env: TestEnv;
  let sups: SupervisorProcess[] = [];
  let hosts: TestHost[] = [];
  afterEach(async () => {
    // Each host is its own process group: kill the supervisor and its replicas together.
    for (const s of sups) {
      try {
        process.kill(-s.child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await Promise.all(sups.map((s) => s.exited));
    await Promise.all(hosts.map((h) => h.remove()));
    sups = [];
    hosts = [];
    await env.cleanup();
  });

  /**
   * Every id executed; each id executed twice was started on the cut-off host while
   * its lease could still be valid (before the cut plus one lease length): the handler
   * ran there, but its completion could not be recorded.
   */
  async function expectOnlyExplainedDuplicates(cutPids: Set<number>, cutAt: number): Promise<number> {
    const counts = executions(env.ledger);
    expect(counts.size).toBe(IDS);
    const ledger = readLedger(env.ledger);
    const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    for (const id of twice) {
      const runs = ledger.filter((l) => l.id === id && l.ev === 'start');
      expect(runs.some((l) => cutPids.has(l.pid) && l.t <= cutAt + LOCK_TTL_MS), `duplicate ${id} is explained`).toBe(true);
    }
    expect(await env.ch.checkQueue(env.queue)).toMatchObject({ messageCount: 0 });
    console.info(`${expect.getState().currentTestName}: ${twice.length} duplicate execution(s), all on the cut-off host within its lease`);
    return twice.length;
  }

  it('two hosts in network namespaces; one is cut off mid-run (link down)', async (ctx) => {
    const why = netnsUnavailable();
    if (why) return ctx.skip(why);
    env = await testEnv('hosts');
    hosts = [await createHost(1), await createHost(2)];
    sups = await Promise.all(
      hosts.map((h) =>
        startSupervisor(
          {
            queue: env.queue,
            prefix: env.prefix,
            handler: LEDGER_HANDLER,
            admin: `${h.address}:0`,
            extra: [...FAST_FAILOVER, '--amqp', `amqp://guest:guest@${h.gateway}:5672?heartbeat=2`, '--redis', `redis://${h.gateway}:6379`],
          },
          {},
          { wrap: ['ip', 'netns', 'exec', h.ns], detached: true },
        ),
      ),
    );
    // Published once both hosts consume, so both get work however slow a start-up was.
    await publishRaw(env.ch, env.queue, Array.from({ length: IDS }, (_, i) => `h-${i}`).flatMap((id) => [body(id, { ledger: env.ledger, sleepMs: 20 }), body(id, { ledger: env.ledger, sleepMs: 20 })]));
    const cutPids = new Set((await sups[0]!.status()).slots.map((s) => s.pid!));
    await waitFor(() => readLedger(env.ledger).filter((l) => l.ev === 'done' && cutPids.has(l.pid)).length >= 40, 30_000, 'host 1 at work');

    // Every replica process host 1 ran, including any it restarted meanwhile.
    for (const slot of (await sups[0]!.status()).slots) if (slot.pid) cutPids.add(slot.pid);
    const cutAt = Date.now();
    hosts[0]!.cut();
    await waitFor(async () => executions(env.ledger).size === IDS && (await env.ch.checkQueue(env.queue)).messageCount === 0, 90_000, 'host 2 finished the work');
    const dups = await expectOnlyExplainedDuplicates(cutPids, cutAt);
    // At most what host 1 held unacked at the cut can run twice.
    expect(dups).toBeLessThanOrEqual(10);

    // The link comes back: host 1 reconnects by itself and is ready again.
    hosts[0]!.restore();
    await sups[0]!.waitForStatus((s) => s.ready && s.slots.every((x) => x.consuming), 'host 1 consuming after the cut', 60_000);
    // Readiness may dip once more while the old sockets, dead since the cut, error out and
    // are replaced (consumption pauses while Redis reconnects); /readyz must come back to 200.
    await waitFor(async () => (await fetch(`http://${sups[0]!.admin}/readyz`)).status === 200, 60_000, 'host 1 /readyz 200 after the cut');
  });

  it('two hosts as separate process groups on loopback; one is frozen mid-run (SIGSTOP)', async () => {
    env = await testEnv('frozen');
    const args = { queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: [...FAST_FAILOVER, '--amqp', 'amqp://guest:guest@127.0.0.1:5672?heartbeat=2'] };
    sups = [await startSupervisor(args, {}, { detached: true }), await startSupervisor(args, {}, { detached: true })];
    await publishRaw(env.ch, env.queue, Array.from({ length: IDS }, (_, i) => `f-${i}`).flatMap((id) => [body(id, { ledger: env.ledger, sleepMs: 20 }), body(id, { ledger: env.ledger, sleepMs: 20 })]));
    const frozenPids = new Set((await sups[0]!.status()).slots.map((s) => s.pid!));
    await waitFor(() => readLedger(env.ledger).filter((l) => l.ev === 'done' && frozenPids.has(l.pid)).length >= 40, 30_000, 'host 1 at work');

    for (const slot of (await sups[0]!.status()).slots) if (slot.pid) frozenPids.add(slot.pid);
    const cutAt = Date.now();
    process.kill(-sups[0]!.child.pid!, 'SIGSTOP');
    await waitFor(async () => executions(env.ledger).size === IDS && (await env.ch.checkQueue(env.queue)).messageCount === 0, 90_000, 'host 2 finished the work');

    // Thawed, host 1 finds its connections gone, reconnects, and any handler it finishes late is
    // either recorded (nobody else ran it) or refused by the completion script (someone did).
    process.kill(-sups[0]!.child.pid!, 'SIGCONT');
    await sups[0]!.waitForStatus((s) => s.slots.every((x) => x.consuming) && s.totals.inFlight === 0, 'host 1 settled after thawing', 60_000);
    await waitFor(async () => (await env.ch.checkQueue(env.queue)).messageCount === 0, 30_000, 'queue empty');
    const dups = await expectOnlyExplainedDuplicates(frozenPids, cutAt);
    expect(dups).toBeLessThanOrEqual(10);
  });
});
