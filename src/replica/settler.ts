/**
 * How the pipeline's decisions reach the broker: a delivery acked or requeued
 * (and counted), a copy published to the dead-letter queue with the reason in its
 * headers, a copy published to the retry queue with its attempt. The pipeline
 * decides which; this carries it out. Every publish waits for the broker's confirm.
 */
import type { EventEmitter } from 'node:events';
import type { Tracer } from '@opentelemetry/api';
import type { QueueNames } from '../amqp/broker.js';
import type { Delivery } from '../amqp/consumer.js';
import { HEADERS, boundedStack, republishProps, truncate } from '../amqp/republish.js';
import { formatDuration } from '../common/duration.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { ReplicaEvents } from './item.js';
import { MessageTrace } from './message-trace.js';
import type { ReplicaStats } from './stats.js';

/** Pause before a delivery whose dead-lettering failed is requeued, so nothing spins. */
const REPUBLISH_RETRY_MS = 1000;

export interface DeadLetterDetails {
  id?: string | undefined;
  attempts?: number | undefined;
  /** The handler's stack, kept (bounded) in a header. */
  stack?: string | undefined;
}

export interface RetryDetails {
  id: string;
  /** The attempt that failed. */
  attempt: number;
  maxAttempts: number;
  error: string;
  stack: string | undefined;
  delayMs: number;
  /** Its thread died with it: the retry runs alone (isolation.ts). */
  suspect: boolean;
}

export class Settler {
  constructor(
    private readonly deps: { queue: string; names: QueueNames; log: Logger; stats: ReplicaStats; events: EventEmitter<ReplicaEvents> },
  ) {}

  /** Ack (done with) or requeue (give back) a delivery. */
  settle(d: Delivery, ack: boolean): void {
    const { stats, log } = this.deps;
    stats.inFlight -= 1;
    if (!ack) {
      stats.requeued += 1;
      d.requeue();
    } else {
      // A delivery whose channel died cannot be acked: the broker redelivers it and the
      // redelivery finds the completion record.
      if (!d.live) log.warn({ msgId: d.msg.properties.messageId }, 'channel closed before the ack: the redelivery will be acked as a duplicate');
      d.ack();
    }
  }

  /** Publish to `<queue>.dlq` with the reason; true once confirmed (the caller then acks), false if it could not be. */
  async deadLetter(d: Delivery, reason: string, detail: string, { id, attempts, stack }: DeadLetterDetails = {}): Promise<boolean> {
    const { names, log, stats, events } = this.deps;
    const headers = {
      ...d.msg.properties.headers,
      [HEADERS.reason]: reason,
      [HEADERS.error]: truncate(detail),
      [HEADERS.queue]: this.deps.queue,
      [HEADERS.at]: Date.now(),
      ...(id !== undefined && { [HEADERS.id]: id }),
      ...(attempts !== undefined && { [HEADERS.attempts]: attempts }),
      ...(stack !== undefined && { [HEADERS.stack]: boundedStack(stack) }),
    };
    try {
      await d.publish(names.dlq, d.msg.content, { ...republishProps(d), headers });
    } catch (err) {
      log.error({ msgId: id, err: errorMessage(err) }, 'could not dead-letter: message requeued');
      return false;
    }
    stats.deadLettered[reason] = (stats.deadLettered[reason] ?? 0) + 1;
    log.warn({ msgId: id, reason, detail, attempts, stack }, 'dead-lettered');
    events.emit('dead-lettered', id, reason);
    return true;
  }

  /** A delivery that cannot be processed at all (no id, bad body): dead-letter it, then ack; requeued later if that fails. */
  async deadLetterBad(d: Delivery, reason: string, detail: string, tracer: Tracer | undefined): Promise<void> {
    const { messageId, headers } = d.msg.properties;
    const trace = tracer && new MessageTrace(tracer, this.deps.queue, messageId, headers, d.msg.fields.redelivered);
    trace?.deadLettered(reason, detail);
    const published = await this.deadLetter(d, reason, detail);
    trace?.end(published ? 'dead-lettered' : 'requeued');
    if (published) this.settle(d, true);
    else setTimeout(() => this.settle(d, false), REPUBLISH_RETRY_MS);
  }

  /**
   * Publish a copy for attempt `attempt + 1`: through `<queue>.retry` after `delayMs`
   * (it flows back to the queue when its expiration ends), or straight back with no delay.
   * False if the broker did not confirm it (the caller requeues the delivery instead).
   */
  async retry(d: Delivery, r: RetryDetails): Promise<boolean> {
    const { names, log, stats, events } = this.deps;
    const { [HEADERS.suspect]: _, ...kept } = d.msg.properties.headers ?? {};
    const headers = { ...kept, [HEADERS.attempt]: r.attempt, [HEADERS.error]: truncate(r.error), ...(r.suspect && { [HEADERS.suspect]: 'thread died' }) };
    const props = { ...republishProps(d), headers };
    try {
      if (r.delayMs > 0) await d.publish(names.retry, d.msg.content, { ...props, expiration: String(r.delayMs) });
      else await d.publish(names.queue, d.msg.content, props);
    } catch (err) {
      log.warn({ msgId: r.id, err: errorMessage(err) }, 'could not schedule a retry: message requeued');
      return false;
    }
    stats.retried += 1;
    log.warn(
      { msgId: r.id, attempt: r.attempt, maxAttempts: r.maxAttempts, retryInMs: r.delayMs, err: r.error, stack: r.stack },
      `handler failed (attempt ${r.attempt} of ${r.maxAttempts}): retry in ${formatDuration(r.delayMs)}`,
    );
    events.emit('retried', r.id, r.attempt);
    return true;
  }
}
