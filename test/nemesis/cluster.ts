/**
 * The servers and pools of one nemesis run: a redis-server of its own (so it can be
 * paused), the standard RabbitMQ with queue names of its own, and per pool a TCP proxy
 * in front of each, so one pool at a time can be cut off, slowed down or reset.
 */
import { startRedisServer, type RedisServer } from '../helpers/redis-servers.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { startSupervisor, stopSupervisor, type SupervisorProcess } from '../helpers/supervisor.js';
import { AMQP_URL, waitFor } from '../helpers/services.js';

export const HANDLER = new URL('./handler.mjs', import.meta.url).pathname;

export interface Pool {
  name: string;
  sup: SupervisorProcess;
  redisProxy: TcpProxy;
  amqpProxy: TcpProxy;
}

export interface PoolShape {
  pools: number;
  replicas: number;
  lockTtlMs: number;
  queue: string;
  prefix: string;
}

export interface Cluster {
  redis: RedisServer;
  pools: Pool[];
  /** Replica pids of a pool by slot, as its supervisor reports them. */
  pids(pool: Pool): Promise<(number | undefined)[]>;
  /** Every replica of every pool ready and consuming (bounded wait); false if it timed out. */
  settled(timeoutMs: number): Promise<boolean>;
  /** Stop the pools (their unacked messages go back to the queue); the servers stay up. */
  stopPools(): Promise<void>;
  stop(): Promise<void>;
}

export async function startCluster(shape: PoolShape): Promise<Cluster> {
  const redis = await startRedisServer();
  const pools: Pool[] = [];
  const stopPools = async (): Promise<void> => {
    if (redis.process.exitCode === null) redis.process.kill('SIGCONT');
    for (const p of pools) {
      p.redisProxy.heal();
      p.amqpProxy.heal();
    }
    await Promise.all(pools.map((p) => stopPool(p)));
  };
  const stop = async (): Promise<void> => {
    await stopPools();
    await Promise.all(pools.flatMap((p) => [p.redisProxy.close(), p.amqpProxy.close()]));
    await redis.kill();
  };
  try {
    const pool = async (i: number): Promise<Pool> => {
      const name = `p${i + 1}`;
      const redisProxy = await startTcpProxy(redis.port);
      const amqpProxy = await startTcpProxy(Number(new URL(AMQP_URL).port || 5672), new URL(AMQP_URL).hostname);
      const p = { name, redisProxy, amqpProxy } as Pool;
      pools.push(p);
      p.sup = await startSupervisor(
        {
          queue: shape.queue,
          prefix: shape.prefix,
          handler: HANDLER,
          extra: [
            ...['--replicas', String(shape.replicas), '--threads', '1', '--concurrency', '4', '--prefetch', '8'],
            ...['--lock-ttl', `${shape.lockTtlMs}ms`, '--max-attempts', '100', '--retry-delay', '100ms'],
            ...['--redis', redisProxy.url(redis.url), '--amqp', `${amqpProxy.url(AMQP_URL)}?heartbeat=2`, '--log-level', 'info'],
          ],
        },
        { NEMESIS_POOL: name },
      );
      return p;
    };
    // One after another: starting every replica at once on two cores slows each start.
    for (let i = 0; i < shape.pools; i++) await pool(i);
  } catch (err) {
    await stop();
    throw err;
  }
  const pids = async (p: Pool) => (await p.sup.status()).slots.map((s) => s.pid);
  return {
    redis,
    pools,
    pids,
    async settled(timeoutMs) {
      const all = async () => (await Promise.all(pools.map((p) => p.sup.status()))).every((s) => s.slots.length > 0 && s.slots.every((x) => x.state === 'ready' && x.consuming));
      return waitFor(all, timeoutMs, 'pools settled').then(() => true, () => false);
    },
    stopPools,
    stop,
  };
}

/** SIGTERM a pool's supervisor; its replicas drain. One that does not exit in time is killed with them. */
async function stopPool(p: Pool): Promise<void> {
  if (!p.sup) return;
  const pids = await p.sup.status().then((s) => s.slots.map((x) => x.pid).filter((x): x is number => !!x), () => []);
  for (const pid of pids) signal(pid, 'SIGCONT');
  const stopped = stopSupervisor(p.sup);
  const late = await Promise.race([stopped.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 30_000))]);
  if (late) {
    for (const pid of pids) signal(pid, 'SIGKILL');
    p.sup.child.kill('SIGKILL');
    await p.sup.exited;
  }
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false; // already gone
  }
}
