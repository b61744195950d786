/** Extra redis-server processes on spare loopback ports, for quorum tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { waitFor } from './services.js';

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

/** A fresh, empty redis-server; on `port` when given (e.g. to bring a killed one back). */
export async function startRedisServer(port?: number, extraArgs: string[] = []): Promise<RedisServer> {
  port ??= await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', '', ...extraArgs], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableReadyCheck: false, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  // Up means it answers, even if only to say a password is needed.
  const answers = () => probe.ping().then(() => true, (err: Error) => /NOAUTH/.test(err.message));
  await waitFor(async () => probe.connect().then(answers, answers), 10_000, `redis-server on ${port}`);
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
