/**
 * Throwaway services and broker-side faults, for the bench's chaos and the tests:
 * extra redis-server processes on free loopback ports, and closing a process's
 * AMQP connections through rabbitmqctl.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

export interface RedisServer {
  port: number;
  url: string;
  process: ChildProcess;
  kill(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A fresh, empty redis-server; on `port` when given (e.g. to bring a killed one back); `env` added to this process's. */
export async function startRedisServer(port?: number, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RedisServer> {
  port ??= await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', '', ...extraArgs];
  const proc = spawn('redis-server', args, { stdio: 'ignore', env: { ...process.env, ...env } });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableReadyCheck: false, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  // Up means it answers, even if only to say a password is needed.
  const answers = () => probe.ping().then(() => true, (err: Error) => /NOAUTH/.test(err.message));
  const deadline = Date.now() + 10_000;
  while (!(await probe.connect().then(answers, answers))) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`redis-server on ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  probe.disconnect();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: proc,
    async kill() {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Call `fn` with each batch of keys matching `pattern` (SCAN, so Redis is never blocked). */
export async function forEachKeys(redis: Redis, pattern: string, fn: (keys: string[]) => Promise<unknown>): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
    if (keys.length) await fn(keys);
    cursor = next;
  } while (cursor !== '0');
}

function rabbitmqctl(...args: string[]): string {
  return execFileSync('rabbitmqctl', [...args, '-q'], { stdio: 'pipe' }).toString();
}

/** Close every connection whose connection_name contains `nameFragment`; returns how many. */
export function closeConnections(nameFragment: string, reason = 'closed on purpose'): number {
  let closed = 0;
  for (const line of rabbitmqctl('list_connections', 'pid', 'client_properties').split('\n')) {
    const pid = /^(<[^>]+>)/.exec(line)?.[1];
    if (pid && line.includes(nameFragment)) {
      rabbitmqctl('close_connection', pid, reason);
      closed++;
    }
  }
  return closed;
}
