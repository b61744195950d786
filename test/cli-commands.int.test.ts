/** The CLI as a new user meets it: help, typos, flags that do not apply, errors that say what to do, replica --admin, status. */
import { createServer, type Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { LEDGER_HANDLER, body, publishRaw, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { spawnCli, type ReplicaProcess } from './helpers/processes.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const stdout = (p: ReplicaProcess): string => p.lines.join('\n');

/** A loopback port that nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('dedup-pool help, version and flag errors', () => {
  it.each(['start', 'replica', 'status', 'scale', 'publish', 'bench'])('%s --help prints its own help on stdout and exits 0', async (cmd) => {
    const p = spawnCli([cmd, '--help']);
    expect(await p.exited).toBe(0);
    const out = stdout(p);
    expect(out).toContain(`Usage: dedup-pool ${cmd}`);
    expect(out).toContain('Exit codes:');
    expect(p.stderr.join('')).toBe('');
  });

  it('start --help shows defaults the way they are typed', async () => {
    const p = spawnCli(['start', '--queue', 'q', '--help']);
    expect(await p.exited).toBe(0);
    const out = stdout(p);
    for (const typed of ['default 24h', 'default 30s', 'default 1mb', 'default body,header:x-message-id,property', 'env DEDUP_LOCK_TTL']) expect(out).toContain(typed);
  });

  it('bench --help lists the scenarios and the bench flags', async () => {
    const p = spawnCli(['bench', '--help']);
    expect(await p.exited).toBe(0);
    const out = stdout(p);
    expect(out).toMatch(/noop-baseline +\[quick\]/);
    expect(out).toContain('chaos-kill-replica');
    for (const flag of ['--scenario a,b', '--all', '--list', '--scale F', '--amqp URL[,URL...]', '--redis URL']) expect(out).toContain(flag);
  });

  it.each([
    [['--scenario', 'nope'], /--scenario: unknown scenario nope/],
    [['--amqp', 'rabbit:5672'], /--amqp must be amqp:\/\/… or amqps:\/\/… URLs/],
    [['--redis', '127.0.0.1:6379'], /--redis must be a redis:\/\/… or rediss:\/\/… URL/],
  ])('bench %j: names the flag and exits 2 before running anything', async (args, message) => {
    const p = spawnCli(['bench', ...args]);
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toMatch(message);
  });

  it('--version prints the package version', async () => {
    const p = spawnCli(['--version']);
    expect(await p.exited).toBe(0);
    expect(stdout(p).trim()).toBe(VERSION);
  });

  it('a typo in a flag gets a suggestion and exit 2', async () => {
    const p = spawnCli(['start', '--queue', 'q', '--handler', 'h.mjs', '--thread', '2']);
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toMatch(/unknown flag --thread for dedup-pool start; did you mean --threads\?/);
  });

  it.each([
    [['replica', '--queue', 'q', '--handler', 'h.mjs', '--replicas', '2'], /--replicas does not apply to dedup-pool replica \(it is a flag of start\)/],
    [['replica', '--queue', 'q', '--handler', 'h.mjs', '--admin-token', 'secret-token'], /--admin-token does not apply to dedup-pool replica/],
    [['status', '--threads', '2'], /--threads does not apply to dedup-pool status/],
    [['publish', '--queue', 'q', '--prefetch', '5'], /--prefetch does not apply to dedup-pool publish/],
  ])('rejects a flag that does not apply: %j', async (args, message) => {
    const p = spawnCli(args);
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toMatch(message);
  });

  it('never prints a password from a rejected URL, whether from a flag or the environment', async () => {
    const runs = [
      spawnCli(['start', '--queue', 'q', '--handler', 'h.mjs', '--redis', 'redis://u:hunter2@a:1,nope']),
      spawnCli(['start', '--queue', 'q', '--handler', 'h.mjs'], { DEDUP_AMQP_URL: 'http://guest:hunter2@rabbit:5672' }),
      spawnCli(['replica', '--queue', 'q', '--handler', 'h.mjs', '--inbox', 'mysql://app:hunter2@db/x']),
      spawnCli(['publish', '--queue', 'q'], { DEDUP_AMQP_URL: 'amqp://u:hunter2@[broken' }),
    ];
    for (const p of runs) {
      expect(await p.exited).toBe(2);
      const err = p.stderr.join('');
      expect(err).toMatch(/must be an? .*URL/);
      expect(err).toContain(':***@');
      expect(err).not.toContain('hunter2');
    }
  });
});

describe('dedup-pool errors that say which address, why, and what to do', () => {
  let held: Server | undefined;
  afterEach(async () => {
    await new Promise((r) => (held ? held.close(r) : r(undefined)));
    held = undefined;
  });

  it('status with no pool running names the address and what to do, exit 1', async () => {
    const port = await freePort();
    const p = spawnCli(['status', '--admin', `127.0.0.1:${port}`]);
    expect(await p.exited).toBe(1);
    const err = p.stderr.join('');
    expect(err).toMatch(new RegExp(`no dedup-pool answers at 127\\.0\\.0\\.1:${port}: nothing listens there \\(connection refused\\); start one with \`dedup-pool start\``));
    expect(err).not.toMatch(/fetch failed/);
  });

  it('scale with no supervisor says the same through DEDUP_ADMIN', async () => {
    const port = await freePort();
    const p = spawnCli(['scale', '3'], { DEDUP_ADMIN: `127.0.0.1:${port}` });
    expect(await p.exited).toBe(1);
    expect(p.stderr.join('')).toMatch(new RegExp(`no dedup-pool answers at 127\\.0\\.0\\.1:${port}`));
  });

  it('publish with no broker names the queue, the URL (password hidden) and the reason, exit 1', async () => {
    const port = await freePort();
    const p = spawnCli(['publish', '--queue', 'q.nowhere', '--amqp', `amqp://app:hunter2@127.0.0.1:${port}`]);
    p.child.stdin!.end('{"message_id":"a"}\n');
    expect(await p.exited).toBe(1);
    const err = p.stderr.join('');
    expect(err).toContain(`line 1 was not published to queue q.nowhere on amqp://app:***@127.0.0.1:${port}: `);
    expect(err).toMatch(/ECONNREFUSED.*the 0 line\(s\) before it were published/);
    expect(err).not.toContain('hunter2');
  });

  it('publish names a file it cannot read, exit 2', async () => {
    const p = spawnCli(['publish', '--queue', 'q', '--file', '/nonexistent/events.jsonl']);
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toMatch(/--file \/nonexistent\/events\.jsonl cannot be read: ENOENT/);
  });

  it('a busy admin port says so and suggests another, exit 2', async () => {
    held = createServer();
    await new Promise<void>((r) => held!.listen(0, '127.0.0.1', () => r()));
    const port = (held.address() as { port: number }).port;
    for (const cmd of ['start', 'replica']) {
      const p = spawnCli([cmd, '--queue', 'q', '--handler', LEDGER_HANDLER, '--threads', '1', '--admin', `127.0.0.1:${port}`]);
      expect(await p.exited).toBe(2);
      expect(p.stderr.join('')).toMatch(new RegExp(`--admin 127\\.0\\.0\\.1:${port}: port ${port} is already in use .*--admin 127\\.0\\.0\\.1:${port + 1}, or --admin 127\\.0\\.0\\.1:0 for a free one`));
    }
  });
});

describe('dedup-pool replica --admin and status', () => {
  let env: TestEnv | undefined;
  let p: ReplicaProcess | undefined;
  afterEach(async () => {
    if (p && p.child.exitCode === null) {
      p.child.kill('SIGTERM');
      await p.exited;
    }
    p = undefined;
    await env?.cleanup();
    env = undefined;
  });

  it('serves /healthz /readyz /metrics /status, and status shows queue, handler, prefix, rates, dead-letter depth and reasons', async () => {
    env = await testEnv('cli-replica-admin');
    p = spawnCli(['replica', '--queue', env.queue, '--prefix', env.prefix, '--handler', LEDGER_HANDLER, '--threads', '1', '--admin', '127.0.0.1:0']);
    const admin = (await p.waitForLog('admin endpoint listening')).admin as string;
    await p.waitForLog('replica started');
    await publishRaw(env.ch, env.queue, [
      ...['a', 'b', 'c'].map((id) => ({ ...body(id, { ledger: env!.ledger }), props: { messageId: id, contentType: 'application/json' } })),
      { content: '{"data": "no id"}', props: { contentType: 'application/json' } },
    ]);

    expect((await fetch(`http://${admin}/healthz`)).status).toBe(200);
    expect((await fetch(`http://${admin}/readyz`)).status).toBe(200);
    await waitFor(async () => /dedup_completed_total\{queue="[^"]+"\} 3/.test(await (await fetch(`http://${admin}/metrics`)).text()), 20_000, 'completed 3 in /metrics');
    const metrics = await (await fetch(`http://${admin}/metrics`)).text();
    expect(metrics).toMatch(/dedup_dead_lettered_total\{reason="NO_ID",queue="[^"]+"\} 1/);
    expect(metrics).toMatch(/dedup_replica_process_cpu_seconds_total/);
    expect((await fetch(`http://${admin}/scale`, { method: 'POST', body: '{"replicas":2}' })).status).toBe(404);

    // Rates need two samples a moment apart.
    await new Promise((r) => setTimeout(r, 1200));
    const s = spawnCli(['status', '--admin', admin]);
    expect(await s.exited).toBe(0);
    const out = stdout(s);
    expect(out).toMatch(new RegExp(`^READY: replica on queue ${env.queue.replace(/\./g, '\\.')}, 1/1 replica\\(s\\) consuming`));
    expect(out).toContain(`handler   ${LEDGER_HANDLER}`);
    expect(out).toContain(`prefix    ${env.prefix}`);
    expect(out).toMatch(/rates \(last \d+s, per second\) +delivered [\d.]+ +completed [\d.]+/);
    expect(out).toContain(`${env.queue}.dlq: 1 dead-lettered`);
    expect(out).toContain('dead-lettered 1: no message id (NO_ID) 1');
    expect(out).toContain('completed 3 of 4 deliveries');

    const j = spawnCli(['status', '--json'], { DEDUP_ADMIN: admin });
    expect(await j.exited).toBe(0);
    const json = JSON.parse(stdout(j)) as { mode: string; queue: string; prefix: string; queues: { dlq: number }; totals: { completed: number } };
    expect(json).toMatchObject({ mode: 'replica', queue: env.queue, prefix: env.prefix, queues: { dlq: 1 }, totals: { completed: 3 } });

    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('while Redis is unreachable: says which URL and why (no talk of a quorum), /readyz 503, status exits 1', async () => {
    env = await testEnv('cli-no-redis');
    const port = await freePort();
    p = spawnCli(['replica', '--queue', env.queue, '--prefix', env.prefix, '--handler', LEDGER_HANDLER, '--threads', '1', '--admin', '127.0.0.1:0', '--redis', `redis://app:hunter2@127.0.0.1:${port}`]);
    const admin = (await p.waitForLog('admin endpoint listening')).admin as string;
    await waitFor(() => p!.logs.some((l) => String(l.msg).startsWith('cannot reach Redis')), 10_000, 'the Redis warning');
    const warning = String(p.logs.find((l) => String(l.msg).startsWith('cannot reach Redis'))!.msg);
    expect(warning).toContain(`cannot reach Redis at redis://app:***@127.0.0.1:${port} (connect ECONNREFUSED 127.0.0.1:${port})`);
    expect(warning).toMatch(/--redis \(env DEDUP_REDIS_URL\)/);
    expect(warning).not.toMatch(/quorum/);
    expect(JSON.stringify(p.logs)).not.toContain('hunter2');

    expect((await fetch(`http://${admin}/healthz`)).status).toBe(200);
    expect((await fetch(`http://${admin}/readyz`)).status).toBe(503);
    const s = spawnCli(['status', '--admin', admin]);
    expect(await s.exited).toBe(1);
    expect(stdout(s)).toMatch(/^NOT READY: replica on queue/);

    // A signal while it waits stops it cleanly.
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);

  });
});
