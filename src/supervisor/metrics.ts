/**
 * Prometheus metrics for /metrics, read at scrape time from the supervisor's
 * status (counters summed over every replica, including exited ones), so
 * replicas keep plain counters and nothing is counted twice. Every sample
 * carries a `queue` label (Prometheus adds `instance` when it scrapes).
 */
import { Registry, collectDefaultMetrics } from 'prom-client';
import { BUCKETS_MS, type Histogram } from '../replica/stats.js';
import type { Depths } from '../amqp/queue-depth.js';
import type { SupervisorStatus } from './supervisor.js';

type Labels = Record<string, string | number>;
interface Sample { value: number; labels?: Labels; metricName?: string }

/** A metric whose samples are computed on each scrape. */
function snapshot(name: string, help: string, type: 'counter' | 'gauge' | 'histogram', samples: () => Sample[] | Promise<Sample[]>) {
  return {
    name,
    help,
    type,
    aggregator: 'sum' as const,
    get: async () => ({ name, help, type, aggregator: 'sum' as const, values: await samples() }),
  };
}

function histogram(name: string, help: string, read: () => Histogram) {
  return snapshot(name, help, 'histogram', () => {
    const h = read();
    let cumulative = 0;
    const buckets = [...BUCKETS_MS, Infinity].map((le, i) => {
      cumulative += h.buckets[i] ?? 0;
      return { metricName: `${name}_bucket`, labels: { le: le === Infinity ? '+Inf' : le / 1000 }, value: cumulative };
    });
    return [...buckets, { metricName: `${name}_sum`, value: h.totalMs / 1000 }, { metricName: `${name}_count`, value: h.count }];
  });
}

/**
 * `processPrefix` names Node's own process metrics: `dedup_supervisor_`, or `dedup_replica_` for a lone replica.
 * `depths` reads the queues' depths (cached by its reader): gauges absent while unknown.
 */
export function createMetrics(status: () => SupervisorStatus, processPrefix = 'dedup_supervisor_', depths?: () => Promise<Depths>): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ queue: status().queue });
  collectDefaultMetrics({ register: registry, prefix: processPrefix });
  const t = () => status().totals;
  const add = (m: ReturnType<typeof snapshot>): void => registry.registerMetric(m as never);

  add(snapshot('dedup_deliveries_total', 'Deliveries received from RabbitMQ.', 'counter', () => [{ value: t().deliveries }]));
  add(snapshot('dedup_completed_total', 'Message ids whose handler succeeded and whose completion was recorded.', 'counter', () => [{ value: t().completed }]));
  add(snapshot('dedup_duplicates_total', 'Deliveries acked as duplicates, by reason: done (completion record found) or in-flight (waited for another holder).', 'counter', () =>
    Object.entries(t().duplicates).map(([reason, value]) => ({ value, labels: { reason } }))));
  add(snapshot('dedup_retries_total', 'Handler failures scheduled for a retry.', 'counter', () => [{ value: t().retried }]));
  add(snapshot('dedup_dead_lettered_total', 'Messages sent to the dead-letter queue, by reason.', 'counter', () =>
    Object.entries(t().deadLettered).map(([reason, value]) => ({ value, labels: { reason } }))));
  add(snapshot('dedup_lease_extensions_total', 'Lease extensions while handlers ran.', 'counter', () => [{ value: t().leaseExtensions }]));
  add(snapshot('dedup_lease_lost_total', 'Leases lost while a handler ran.', 'counter', () => [{ value: t().leaseLost }]));
  add(snapshot('dedup_handlers_overdue', 'Handlers running now for longer than --overdue-after.', 'gauge', () => [{ value: t().overdue }]));
  add(snapshot('dedup_handlers_overdue_total', 'Handlers that ran longer than --overdue-after.', 'counter', () => [{ value: t().overdueTotal }]));
  add(snapshot('dedup_parked_total', 'Duplicates that found the id locked elsewhere and were parked.', 'counter', () => [{ value: t().parked }]));
  add(snapshot('dedup_requeued_total', 'Messages given back to the broker (lease lost, store unavailable, draining).', 'counter', () => [{ value: t().requeued }]));
  add(snapshot('dedup_store_errors_total', 'Messages that met an unavailable dedup store.', 'counter', () => [{ value: t().storeErrors }]));
  add(snapshot('dedup_redis_wait_shortfalls_total', 'Complete calls whose records did not reach --redis-wait-replicas replicas before the ack.', 'counter', () => [{ value: t().waitShortfalls }]));
  add(snapshot('dedup_id_disagreements_total', 'Messages whose --id-from sources held different ids (each ran under the first source holding one).', 'counter', () => [{ value: t().idDisagreements }]));
  add(snapshot('dedup_followups_published_total', 'Follow-up messages (ctx.publish) confirmed by the broker; a rerun sends its copies again, under the same ids.', 'counter', () => [{ value: t().followupsPublished }]));
  add(snapshot('dedup_outbox_pending', 'Follow-ups stored in an outbox and not yet sent, by outbox (postgres: inbox mode; redis: Redis-atomic runs), as its dispatcher last counted them; absent without an outbox.', 'gauge', () =>
    Object.entries(t().outboxPending ?? {}).map(([outbox, s]) => ({ value: s.count, labels: { outbox } }))));
  add(snapshot('dedup_reconnects_total', 'AMQP connections lost and re-established.', 'counter', () => [{ value: t().reconnects }]));
  add(snapshot('dedup_consumer_cancellations_total', 'Consumers cancelled by the broker (queue deleted).', 'counter', () => [{ value: t().cancellations }]));
  add(snapshot('dedup_consuming_replicas', 'Replicas subscribed to the queue now.', 'gauge', () => [{ value: status().slots.filter((s) => s.consuming).length }]));
  add(snapshot('dedup_in_flight', 'Messages being processed now.', 'gauge', () => [{ value: t().inFlight }]));
  add(snapshot('dedup_replica_restarts_total', 'Replica processes restarted after a crash.', 'counter', () => [{ value: status().restarts }]));
  add(snapshot('dedup_replicas', 'Replica processes by state.', 'gauge', () => {
    const counts: Record<string, number> = { starting: 0, ready: 0, draining: 0, backoff: 0 };
    for (const s of status().slots) counts[s.state] = (counts[s.state] ?? 0) + 1;
    return Object.entries(counts).map(([state, value]) => ({ value, labels: { state } }));
  }));
  const depth = (name: string, help: string, read: (d: Exclude<Depths, { error: string }>) => number): void =>
    add(snapshot(name, help, 'gauge', async () => {
      const d = await depths?.();
      return d && !('error' in d) ? [{ value: read(d) }] : [];
    }));
  depth('dedup_queue_depth', 'Ready messages in the work queue (absent while the broker cannot be read).', (d) => d.queue);
  depth('dedup_retry_depth', 'Messages waiting out a retry delay in <queue>.retry.', (d) => d.retry);
  depth('dedup_dead_letter_depth', 'Messages in the dead-letter queue <queue>.dlq.', (d) => d.dlq);
  add(snapshot('dedup_threads', 'Worker threads per replica.', 'gauge', () => [{ value: status().threads }]));
  add(histogram('dedup_handler_duration_seconds', 'Handler run time on a worker thread.', () => t().handler));
  add(histogram('dedup_handler_to_ack_seconds', 'From the end of the handler to the ack (completion record, then ack).', () => t().handlerToAck));
  return registry;
}
