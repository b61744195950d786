/** Credentials never reach the logs; TLS connections to Redis use the configured CA. */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Replica } from '../src/index.js';
import { LEDGER_HANDLER, body, executions, publishRaw, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { spawnCli, startArgs, type ReplicaProcess } from './helpers/processes.js';
import { freePort, startRedisServer, type RedisServer } from './helpers/redis-servers.js';
import { idState } from './helpers/records.js';

function rabbitmqctl(...args: string[]): void {
  execFileSync('rabbitmqctl', [...args, '-q'], { stdio: 'pipe' });
}

describe('secrets and TLS', () => {
  let env: TestEnv;
  let servers: RedisServer[] = [];
  let procs: ReplicaProcess[] = [];
  let users: string[] = [];
  afterEach(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await Promise.all(servers.map((s) => s.kill()));
    for (const u of users) rabbitmqctl('delete_user', u);
    procs = [];
    servers = [];
    users = [];
    await env.cleanup();
  });

  it('never prints the AMQP or Redis password, even at trace level and on connection errors', async () => {
    env = await testEnv('secrets');
    const user = `dedup-test-${randomBytes(3).toString('hex')}`;
    const amqpPassword = `amqp-pw-${randomBytes(8).toString('hex')}`;
    const redisPassword = `redis-pw-${randomBytes(8).toString('hex')}`;
    rabbitmqctl('add_user', user, amqpPassword);
    users.push(user);
    rabbitmqctl('set_permissions', '-p', '/', user, '.*', '.*', '.*');
    const redis = await startRedisServer(undefined, ['--requirepass', redisPassword]);
    servers.push(redis);
    const amqpUrl = `amqp://${user}:${amqpPassword}@127.0.0.1:5672`;
    const redisUrl = `redis://:${redisPassword}@127.0.0.1:${redis.port}`;

    const ok = spawnCli([...startArgs({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER }), '--amqp', amqpUrl, '--redis', redisUrl, '--log-level', 'trace', '--threads', '1']);
    // Credentials from the environment take the same path.
    const wrong = spawnCli([...startArgs({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER }), '--log-level', 'trace', '--threads', '1'], {
      DEDUP_AMQP_URL: amqpUrl,
      DEDUP_REDIS_URL: `redis://:${redisPassword}-wrong@127.0.0.1:${redis.port}`,
    });
    procs.push(ok, wrong);
    const started = await ok.waitForLog('replica started');
    expect(started.amqp).toBe(`amqp://${user}:***@127.0.0.1:5672`);
    expect(started.redis).toEqual([`redis://:***@127.0.0.1:${redis.port}`]);
    await publishRaw(env.ch, env.queue, [body('s-1', { ledger: env.ledger })]);
    await waitFor(() => executions(env.ledger).get('s-1') === 1, 20_000, 'message processed');
    // The wrong password stops start-up, saying why (without printing it).
    expect(await wrong.exited).toBe(2);
    expect(wrong.stderr.join('')).toMatch(/Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ refused the login \(WRONGPASS/);
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));

    const everything = [...procs.flatMap((p) => p.logs.map((l) => JSON.stringify(l))), ...procs.flatMap((p) => p.stderr)].join('\n');
    expect(ok.logs.length).toBeGreaterThan(3);
    expect(everything).not.toContain(amqpPassword);
    expect(everything).not.toContain(redisPassword);
  });

  it('connects to Redis over TLS (rediss://) trusting the CA given by --tls-ca', async () => {
    env = await testEnv('tls');
    const dir = mkdtempSync(join(tmpdir(), 'dedup-tls-'));
    const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { cwd: dir, stdio: 'pipe' });
    sh('openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj "/CN=dedup-test-ca"');
    sh('openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1"');
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
    sh('openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 -extfile ext.cnf');
    const tlsPort = await freePort();
    const tlsServer = await startRedisServer(undefined, [
      '--tls-port', String(tlsPort), '--tls-cert-file', join(dir, 'server.pem'), '--tls-key-file', join(dir, 'server.key'),
      '--tls-ca-cert-file', join(dir, 'ca.pem'), '--tls-auth-clients', 'no',
    ]);
    servers.push(tlsServer);

    const replica = await new Replica({
      queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, logLevel: 'silent',
      redisUrls: [`rediss://127.0.0.1:${tlsPort}`], tlsCa: join(dir, 'ca.pem'),
    }).start();
    try {
      await publishRaw(env.ch, env.queue, [body('tls-1', { ledger: env.ledger })]);
      await waitFor(() => replica.stats.completed === 1, 20_000, 'completed over TLS');
    } finally {
      await replica.stop();
    }
    const state = await idState(`rediss://127.0.0.1:${tlsPort}`, env.prefix, env.queue, 'tls-1', { tls: { ca: readFileSync(join(dir, 'ca.pem')) } });
    expect(state.record).toBeDefined();
  });
});
