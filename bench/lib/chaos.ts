/** Chaos during a run: kills, closed connections and frozen replicas on a schedule (Scenario.chaos). */
import { hostname } from 'node:os';
import type { Env } from '../run.js';
import type { Chaos } from '../scenarios/types.js';
import { closeConnections } from './services.js';
import type { RunningVariant } from './variants.js';

export function chaosScheduler(c: Chaos | undefined, running: RunningVariant, env: Env, queue: string, mark: (label: string) => void): (elapsedMs: number) => Promise<void> {
  if (!c) return async () => {};
  let next = c.kind === 'kill-redis' || c.kind === 'kill-redis-master' || c.kind === 'kill-rabbit-node' ? c.atMs : c.everyMs;
  let fired = false;
  const pick = async (): Promise<number | undefined> => {
    const pids = await running.replicaPids();
    return pids[Math.floor(Math.random() * pids.length)];
  };
  return async (elapsed) => {
    if (elapsed < next) return;
    switch (c.kind) {
      case 'kill-redis':
        if (!fired) {
          fired = true;
          await env.extra[1]!.kill();
          mark('one of three Redis masters killed');
        }
        return;
      case 'kill-rabbit-node':
        if (!fired) {
          fired = true;
          mark(`RabbitMQ node ${await env.killQueueLeader!(queue)} (queue leader) killed`);
        }
        return;
      case 'kill-redis-master':
        if (!fired) {
          fired = true;
          const [master] = await env.redisCluster!.masters();
          await env.redisCluster!.kill(master!);
          mark(`Redis Cluster master :${master!.port} killed`);
        }
        return;
      case 'kill-replica': {
        const pid = await pick();
        if (pid) {
          process.kill(pid, 'SIGKILL');
          mark(`replica ${pid} killed`);
        }
        break;
      }
      case 'close-amqp': {
        const pid = await pick();
        if (pid && closeConnections(`dedup-pool ${hostname()}:${pid}`, 'bench chaos') > 0) mark(`AMQP connection of ${pid} closed`);
        break;
      }
      case 'freeze-replica': {
        const pid = await pick();
        if (pid) {
          process.kill(pid, 'SIGSTOP');
          mark(`replica ${pid} frozen for ${c.pauseMs} ms`);
          setTimeout(() => process.kill(pid, 'SIGCONT'), c.pauseMs);
        }
        break;
      }
    }
    next += c.everyMs;
  };
}
