/** `dedup-pool status` as text: pure, so its wording is unit-tested. */
import type { StatusReply } from '../supervisor/admin.js';

/** What each dead-letter reason means, for people reading `status`. */
export const REASONS: Record<string, string> = {
  NO_ID: 'no message id',
  BAD_ID: 'unusable message id',
  NOT_JSON: 'body is not JSON',
  TOO_LARGE: 'body over --max-bytes',
  BAD_HEADER: 'malformed headers',
  ID_CONFLICT: 'id already completed with another body',
  MAX_ATTEMPTS: 'attempts ran out without completing',
  HANDLER_FAILED: 'handler failed on every attempt',
  HANDLER_TIMEOUT: 'handler ran over --handler-timeout',
  WORKER_DIED: "handler's thread died",
  BAD_EFFECT: 'handler returned a bad Redis effect',
};

/** `3: no message id (NO_ID) 2, body is not JSON (NOT_JSON) 1`, largest first; `0` when none. */
export function reasonCounts(counts: Record<string, number>): string {
  const entries = Object.entries(counts).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  const total = entries.reduce((n, [, k]) => n + k, 0);
  if (total === 0) return '0';
  return `${total}: ${entries.map(([r, n]) => `${REASONS[r] ? `${REASONS[r]} (${r})` : r} ${n}`).join(', ')}`;
}

function rate(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${(s / 3600).toFixed(1)}h`;
}

export function formatStatus(s: StatusReply): string {
  const t = s.totals;
  const consuming = s.slots.filter((x) => x.consuming).length;
  const what = s.mode === 'replica' ? 'replica' : 'supervisor';
  const errors = s.slots.filter((x) => x.lastError).map((x) => `  slot ${x.slot}: ${x.lastError}`);
  const lines = [
    s.ready
      ? `READY: ${what} on queue ${s.queue}, ${consuming}/${s.replicas} replica(s) consuming`
      : `NOT READY: ${what} on queue ${s.queue}, no replica is consuming (starting, waiting for RabbitMQ or Redis, or crashing: see its log)`,
    ...errors,
    `  handler   ${s.handler}`,
    `  prefix    ${s.prefix}`,
    `  replicas  ${s.replicas}, ${s.threads} thread(s) each, ${s.restarts} restart(s)`,
    '',
    '  slot  pid      state     uptime    restarts  threads  in-flight  rabbitmq',
    ...s.slots.map((x) =>
      `  ${String(x.slot).padEnd(5)} ${String(x.pid ?? '-').padEnd(8)} ${x.state.padEnd(9)} ${duration(x.uptimeMs).padEnd(9)} ${String(x.restarts).padEnd(9)} ${String(x.threads).padEnd(8)} ${String(x.inFlight).padEnd(10)} ${x.amqp ?? '-'}`),
    '',
  ];
  if (s.rates) {
    const r = s.rates;
    lines.push(`  rates (last ${r.overS}s, per second)  delivered ${rate(r.deliveries)}  completed ${rate(r.completed)}  duplicates ${rate(r.duplicates)}  retried ${rate(r.retried)}  dead-lettered ${rate(r.deadLettered)}`);
  }
  if (s.queues) {
    const q = s.queues;
    lines.push(
      'error' in q
        ? `  queues    depth unknown: ${q.error}`
        : `  queues    ${s.queue}: ${q.queue} waiting, ${q.consumers} consumer(s); ${s.queue}.dlq: ${q.dlq} dead-lettered; ${s.queue}.retry: ${q.retry}`,
    );
  }
  const dup = t.duplicates;
  lines.push(
    `  completed ${t.completed} of ${t.deliveries} deliveries; duplicates ${dup.done + dup['in-flight'] + dup.inbox} (already completed ${dup.done}, waited for another holder ${dup['in-flight']}${dup.inbox ? `, inbox ${dup.inbox}` : ''})`,
    `  retried ${t.retried}  requeued ${t.requeued}  lease extensions ${t.leaseExtensions}  leases lost ${t.leaseLost}  in flight ${t.inFlight}${t.overdue ? `  OVERDUE handlers ${t.overdue} (running past --overdue-after)` : ''}`,
    `  dead-lettered ${reasonCounts(t.deadLettered)}`,
  );
  return `${lines.join('\n')}\n`;
}
