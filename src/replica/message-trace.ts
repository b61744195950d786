/**
 * A message's spans in a replica, from receipt to its outcome (the tree is drawn
 * in src/common/tracing.ts); made only when an OpenTelemetry SDK is registered.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { TRACEPARENT, contextFromTraceparent, formatTraceparent } from '../common/tracing.js';
import type { BeginResult } from '../store/dedup-store.js';
import type { TaskResult } from '../threads/worker-protocol.js';

/** A message's spans in a replica, from receipt to its outcome. */
export class MessageTrace {
  private readonly process: Span;
  private readonly parent: Context;
  private step: Span | undefined;

  constructor(
    private readonly tracer: Tracer,
    queue: string,
    id: string | undefined,
    headers: Record<string, unknown> | undefined,
    redelivered: boolean,
  ) {
    this.process = tracer.startSpan(
      `${queue} process`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'rabbitmq',
          'messaging.operation.type': 'process',
          'messaging.destination.name': queue,
          ...(id !== undefined && { 'messaging.message.id': id }),
          'dedup.redelivered': redelivered,
        },
      },
      contextFromTraceparent(headers?.[TRACEPARENT]),
    );
    this.parent = trace.setSpan(ROOT_CONTEXT, this.process);
    this.begin('dedup decision');
  }

  /** End the current step and start the next one. */
  next(name: string): void {
    this.endStep();
    this.begin(name);
  }

  /** The begin script's answer: the decision step ends, unless the id is held elsewhere (then it waits). */
  decided(r: BeginResult | Error): void {
    if (r instanceof Error || r.state === 'locked') return;
    this.endStep(r.state === 'done' ? { 'dedup.decision': 'completed-before' } : { 'dedup.decision': 'acquired', 'dedup.attempt': r.lease.fence });
  }

  /** Start the handler step; the traceparent its thread runs the handler under. */
  handler(attributes: Attributes): string {
    this.next('handler');
    this.step!.setAttributes(attributes);
    return formatTraceparent(this.step!.spanContext());
  }

  handlerDone(r: TaskResult): void {
    if (!r.ok) this.step?.setStatus({ code: SpanStatusCode.ERROR, message: 'error' in r ? r.error.message : 'died' in r ? r.died : `not started: ${r.notStarted}` });
    this.endStep();
  }

  endStep(attributes?: Attributes): void {
    if (attributes) this.step?.setAttributes(attributes);
    this.step?.end();
    this.step = undefined;
  }

  /** Why it is a duplicate: done (record found), in-flight (waited for another run), inbox. */
  duplicate(reason: string): void {
    this.process.setAttribute('dedup.duplicate.reason', reason);
  }

  deadLettered(reason: string, detail: string): void {
    this.process.setAttributes({ 'dedup.dead_letter.reason': reason, 'dedup.dead_letter.detail': detail });
    this.process.setStatus({ code: SpanStatusCode.ERROR, message: `dead-lettered: ${reason}` });
  }

  /** processed, duplicate, retried, dead-lettered or requeued. */
  end(outcome: string): void {
    this.endStep();
    this.process.setAttribute('dedup.outcome', outcome);
    this.process.end();
  }

  private begin(name: string): void {
    this.step = this.tracer.startSpan(name, undefined, this.parent);
  }
}
