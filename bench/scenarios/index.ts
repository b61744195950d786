import { scenario as chaosCloseAmqp } from './chaos-close-amqp.js';
import { scenario as chaosKillRabbitNode } from './chaos-kill-rabbit-node.js';
import { scenario as chaosKillRedis } from './chaos-kill-redis.js';
import { scenario as chaosKillRedisMaster } from './chaos-kill-redis-master.js';
import { scenario as chaosKillReplica } from './chaos-kill-replica.js';
import { scenario as chaosStall } from './chaos-stall.js';
import { scenario as cpu1ms } from './cpu-1ms.js';
import { scenario as dups20 } from './dups-20.js';
import { scenario as dups50 } from './dups-50.js';
import { scenario as io5ms } from './io-5ms.js';
import { scenario as noopBaseline } from './noop-baseline.js';
import { scenario as redisCluster } from './redis-cluster.js';
import { scenario as redisQuorum } from './redis-quorum.js';
import { scenario as tracing } from './tracing.js';
import type { Scenario } from './types.js';

export const SCENARIOS: Scenario[] = [noopBaseline, dups20, dups50, cpu1ms, io5ms, redisQuorum, redisCluster, chaosKillReplica, chaosKillRedis, chaosKillRedisMaster, chaosCloseAmqp, chaosStall, chaosKillRabbitNode, tracing];
