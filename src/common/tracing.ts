/**
 * OpenTelemetry traces through `@opentelemetry/api` only: the application
 * registers an SDK (or none). The producer's publish span travels in the W3C
 * `traceparent` header; a replica continues it per message:
 *
 *   <queue> publish                (producer)
 *     <queue> process              (replica: receipt to ack; the outcome as attributes)
 *       dedup decision             (the begin script's answer for this id)
 *       handler                    (on its thread; the thread runs the handler inside this span's context)
 *       dedup complete             (the completion record)
 *
 * Whether an SDK is registered is looked up once, when a producer or replica is
 * made: with none, `tracerIfRegistered()` is undefined and no per-message code runs.
 */
import {
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  context,
  trace,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';

export const TRACEPARENT = 'traceparent';
const NAME = 'dedup-pool';

/** The tracer, when an OpenTelemetry SDK is registered; undefined otherwise (then tracing costs nothing). */
export function tracerIfRegistered(): Tracer | undefined {
  const provider = trace.getTracerProvider();
  if (provider instanceof ProxyTracerProvider && provider.getDelegateTracer(NAME) === undefined) return undefined;
  return provider.getTracer(NAME);
}

/** W3C trace context: `00-<trace id>-<span id>-<flags>`. */
export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? '01' : '00'}`;
}

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-|$)/;

/** The remote parent a `traceparent` value names; the root context when it is absent or malformed. */
export function contextFromTraceparent(value: unknown): Context {
  const text = Buffer.isBuffer(value) ? value.toString('latin1') : value;
  const m = typeof text === 'string' ? TRACEPARENT_RE.exec(text.trim()) : null;
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: m[2]!, spanId: m[3]!, traceFlags: parseInt(m[4]!, 16) & TraceFlags.SAMPLED, isRemote: true });
}

/** Run `fn` inside the span context a `traceparent` names (on a worker thread: the handler, under its span). */
export function withTraceparent<T>(traceparent: string | undefined, fn: () => T): T {
  return traceparent === undefined ? fn() : context.with(contextFromTraceparent(traceparent), fn);
}

/** The producer's span for one publish; its context goes out in the message's headers. */
export function startPublish(tracer: Tracer, queue: string, id: string): Span {
  return tracer.startSpan(`${queue} publish`, {
    kind: SpanKind.PRODUCER,
    attributes: { 'messaging.system': 'rabbitmq', 'messaging.operation.type': 'send', 'messaging.destination.name': queue, 'messaging.message.id': id },
  });
}

export function endWithError(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  span.end();
}
