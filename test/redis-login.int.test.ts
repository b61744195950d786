/** A Redis that refuses the login stops start-up (exit 2) with the URL and the cause; ioredis's console warnings are JSON log lines. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_HANDLER, testEnv, type TestEnv } from './helpers/services.js';
import { spawnCli, startArgs, type ReplicaProcess } from './helpers/processes.js';
import { startRedisServer, type RedisServer } from './helpers/redis-servers.js';

const LOCKED_PORT = 7320;
const OPEN_PORT = 7321;
const ADMIN_PORT = 7322;
const PASSWORD = 'login-test-secret';

describe('Redis login', () => {
  let locked: RedisServer;
  let env: TestEnv;
  let procs: ReplicaProcess[] = [];
  beforeAll(async () => {
    locked = await startRedisServer(LOCKED_PORT, ['--requirepass', PASSWORD]);
    env = await testEnv('redis-login');
  });
  afterEach(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    procs = [];
  });
  afterAll(async () => {
    await locked.kill();
    await env.cleanup();
  });
  const run = (args: string[], env: NodeJS.ProcessEnv = {}): ReplicaProcess => {
    const p = spawnCli(args, env);
    procs.push(p);
    return p;
  };

  it('a wrong password (WRONGPASS) exits 2, naming the URL with the password hidden and the cause', async () => {
    const p = run([...startArgs({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER }), '--threads', '1', '--redis', `redis://:wrong-${PASSWORD}@127.0.0.1:${LOCKED_PORT}`]);
    expect(await p.exited).toBe(2);
    const err = p.stderr.join('');
    expect(err).toContain(`Redis at redis://:***@127.0.0.1:${LOCKED_PORT} refused the login (WRONGPASS`);
    expect(err).toMatch(/check the user name and password in --redis \(env DEDUP_REDIS_URL\)/);
    expect([err, ...p.lines].join('\n')).not.toContain(PASSWORD);
  });

  it('no password where one is needed (NOAUTH) stops `start` with exit 2, without restarting replicas', async () => {
    const p = run(['start', '--queue', env.queue, '--prefix', env.prefix, '--handler', LEDGER_HANDLER, '--threads', '1', '--admin', `127.0.0.1:${ADMIN_PORT}`], {
      DEDUP_REDIS_URL: `redis://127.0.0.1:${LOCKED_PORT}`,
    });
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toContain(`Redis at redis://127.0.0.1:${LOCKED_PORT} refused the login (NOAUTH`);
    expect(p.logs.filter((l) => l.msg === 'replica died')).toHaveLength(1);
  });

  it("ioredis's own warnings (a password the server does not need) are JSON log lines", async () => {
    const open = await startRedisServer(OPEN_PORT);
    try {
      const p = run([...startArgs({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER }), '--threads', '1', '--redis', `redis://:${PASSWORD}@127.0.0.1:${OPEN_PORT}`]);
      await p.waitForLog('replica started');
      const warning = p.logs.find((l) => String(l.msg).includes('does not require a password'));
      expect(warning).toMatchObject({ level: 40, source: 'ioredis' });
      expect(p.logs.filter((l) => 'raw' in l)).toEqual([]);
      expect(p.stderr.join('')).not.toContain('does not require a password');
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      await open.kill();
    }
  });
});
