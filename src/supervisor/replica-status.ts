/**
 * A lone replica (`dedup-pool replica`) seen as a pool of one, so the admin
 * endpoint, /metrics and `dedup-pool status` work the same as for a supervisor.
 */
import type { AdminSource } from './admin.js';
import type { QueueDepths } from '../amqp/queue-depth.js';
import type { Replica } from '../replica/replica.js';
import type { SupervisorStatus } from './supervisor.js';

export function replicaAdminSource(replica: Replica, depths?: QueueDepths): AdminSource {
  const startedAt = Date.now();
  let readyAt: number | undefined;
  return {
    role: 'replica',
    status(): SupervisorStatus {
      const { opts } = replica;
      const stats = replica.stats;
      const ready = replica.ready;
      if (ready) readyAt ??= Date.now();
      return {
        mode: 'replica',
        queue: opts.queue,
        handler: opts.handler,
        prefix: opts.prefix,
        replicas: 1,
        threads: opts.threads,
        ready,
        restarts: 0,
        slots: [
          {
            slot: 0,
            pid: process.pid,
            state: ready ? 'ready' : 'starting',
            uptimeMs: Date.now() - (readyAt ?? startedAt),
            restarts: 0,
            threads: opts.threads,
            consuming: ready,
            inFlight: stats.inFlight,
            ...(replica.amqpNode !== undefined && { amqp: replica.amqpNode }),
          },
        ],
        totals: stats,
      };
    },
    ...(depths && { queueDepths: () => depths.read() }),
  };
}
