/**
 * The pod contract on real RabbitMQ and Redis: `dedup-pool replica` started with the
 * env the Helm chart renders (services, queue and handler pointed at this test) gets
 * SIGTERM, as the kubelet sends it. /readyz turns 503 at once while /healthz stays
 * 200, running handlers finish and are acked, the deliveries not started go back to
 * the queue, and the process exits 0 within the chart's terminationGracePeriodSeconds,
 * also when handlers ignore their abort past the drain timeout.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { render, find, CI_VALUES } from './helpers/helm.js';
import { spawnCli, type ReplicaProcess } from './helpers/processes.js';
import { AMQP_URL, LEDGER_HANDLER, REDIS_URL, body, publishRaw, queueDepth, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';

const DRAIN_S = 2;
const LOCK_TTL_S = 2;

/** The chart's Deployment for a short drain: the container's args, env and the pod's grace period. */
function chartPod(): { args: string[]; env: Record<string, string>; graceMs: number } {
  const docs = render([CI_VALUES[0]!], [`pool.drainTimeoutSeconds=${DRAIN_S}`, `pool.lockTtlSeconds=${LOCK_TTL_S}`, 'pool.threads=1', 'pool.concurrency=2', 'pool.prefetch=10']);
  const pod = find(docs, 'Deployment')!.spec.template.spec;
  const container = pod.containers[0];
  const env: Record<string, string> = {};
  for (const e of container.env as { name: string; value?: string }[]) if (e.value !== undefined) env[e.name] = e.value;
  return { args: container.args, env, graceMs: pod.terminationGracePeriodSeconds * 1000 };
}

const status = async (admin: string, path: string): Promise<number> => (await fetch(`http://${admin}${path}`)).status;

describe('pod contract: SIGTERM to dedup-pool replica as the chart runs it', () => {
  let env: TestEnv | undefined;
  let p: ReplicaProcess | undefined;
  afterEach(async () => {
    if (p && p.child.exitCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
    p = undefined;
    await env?.cleanup();
    env = undefined;
  });

  /** A replica with 2 handler slots and 6 held messages: 2 running, 4 waiting. Returns the admin address. */
  async function startHeld(tag: string): Promise<{ admin: string; hold: string; graceMs: number }> {
    env = await testEnv(tag);
    const pod = chartPod();
    expect(pod.args).toEqual(['replica']);
    p = spawnCli(pod.args, {
      ...pod.env,
      DEDUP_QUEUE: env.queue,
      DEDUP_PREFIX: env.prefix,
      DEDUP_HANDLER: LEDGER_HANDLER,
      DEDUP_AMQP_URL: AMQP_URL,
      DEDUP_REDIS_URL: REDIS_URL,
      DEDUP_ADMIN: '127.0.0.1:0', // the chart binds 0.0.0.0:9464; any free loopback port here
    });
    const admin = (await p.waitForLog('admin endpoint listening')).admin as string;
    await p.waitForLog('replica started');
    const hold = `${env.ledger}.hold`;
    await publishRaw(env.ch, env.queue, ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => ({ ...body(id, { ledger: env!.ledger, holdFile: hold }), props: { messageId: id, contentType: 'application/json' } })));
    await waitFor(() => readLedger(env!.ledger).filter((l) => l.ev === 'start').length === 2, 20_000, 'two handlers running');
    expect(await status(admin, '/readyz')).toBe(200);
    return { admin, hold, graceMs: pod.graceMs };
  }

  it('readiness off at once, liveness on; running handlers finish and are acked, the rest requeued; exit 0 within the grace period', async () => {
    const { admin, hold, graceMs } = await startHeld('pod-drain');
    const termAt = Date.now();
    p!.child.kill('SIGTERM');
    await waitFor(async () => (await status(admin, '/readyz')) === 503, 500, '/readyz 503 within 500ms of SIGTERM');
    // Draining while the two handlers are held: still alive, still not ready.
    for (let i = 0; i < 5; i++) {
      expect(await status(admin, '/healthz')).toBe(200);
      expect(await status(admin, '/readyz')).toBe(503);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(p!.child.exitCode).toBeNull();
    writeFileSync(hold, '');
    expect(await p!.exited).toBe(0);
    expect(Date.now() - termAt).toBeLessThan(graceMs);

    const ledger = readLedger(env!.ledger);
    const started = ledger.filter((l) => l.ev === 'start').map((l) => l.id);
    const done = ledger.filter((l) => l.ev === 'done').map((l) => l.id);
    expect(started).toHaveLength(2);
    expect(done.sort()).toEqual([...started].sort());
    // The two finished were acked; the four never started are back in the queue.
    expect(await queueDepth(env!.ch, env!.queue)).toBe(4);
    expect(p!.logs.find((l) => l.msg === 'replica stopped')).toMatchObject({ stats: { completed: 2, requeued: 4 } });
  });

  it('handlers that ignore their abort past the drain timeout: requeued, and the replica still exits 0 within the grace period', async () => {
    const { admin, hold, graceMs } = await startHeld('pod-drain-timeout');
    const termAt = Date.now();
    p!.child.kill('SIGTERM');
    await waitFor(async () => (await status(admin, '/readyz')) === 503, 500, '/readyz 503 within 500ms of SIGTERM');
    expect(await p!.exited).toBe(0);
    const took = Date.now() - termAt;
    expect(took).toBeGreaterThanOrEqual(DRAIN_S * 1000);
    expect(took).toBeLessThan(graceMs);
    expect(existsSync(hold)).toBe(false);
    expect(readLedger(env!.ledger).filter((l) => l.ev === 'done')).toEqual([]);
    // All six are back: the two aborted and the four never started.
    await waitFor(async () => (await queueDepth(env!.ch, env!.queue)) === 6, 5000, 'six messages back in the queue');
  });
});
