/**
 * Traces with the OpenTelemetry SDK's in-memory exporter: one trace from publish
 * to the handler on its worker thread, with the dedup outcome as attributes.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { Producer } from '../src/amqp/producer.js';
import { contextFromTraceparent, formatTraceparent, tracerIfRegistered } from '../src/common/tracing.js';
import { inProcessPool } from './helpers/in-process.js';
import { AMQP_URL, publishRaw, readJsonLines, waitFor } from './helpers/services.js';

const TRACED = new URL('./fixtures/traced-handler.mjs', import.meta.url).pathname;

interface WorkerSpan { name: string; id: string; traceId: string; spanId: string; parentSpanId: string | null }
const workerSpans = (path: string): WorkerSpan[] => readJsonLines<WorkerSpan>(path);

describe('traces', () => {
  const pool = inProcessPool();

  it('trace context survives a round trip through traceparent; a bad one is ignored', () => {
    const sc = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 };
    const tp = formatTraceparent(sc);
    expect(tp).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect(trace.getSpanContext(contextFromTraceparent(tp))).toEqual({ ...sc, isRemote: true });
    for (const bad of [undefined, 42, 'junk', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']) {
      expect(trace.getSpanContext(contextFromTraceparent(bad))).toBeUndefined();
    }
  });

  it('one trace from publish to the handler on its thread; outcomes (processed, duplicate, dead-lettered) as attributes', async () => {
    // With no SDK registered there is no tracer: producers and replicas skip every tracing step.
    expect(tracerIfRegistered()).toBeUndefined();
    const exporter = new InMemorySpanExporter();
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    expect(tracerIfRegistered()).toBeDefined();

    const e = await pool.env('trace');
    const spansFile = `${e.ledger}.spans`;
    const replica = await pool.replica({ queue: e.queue, prefix: e.prefix, handler: TRACED, threads: 1, maxAttempts: 1 });
    const producer = new Producer({ queue: e.queue, amqpUrl: AMQP_URL });
    // The application's own span around the publish: the trace starts there.
    await trace.getTracer('app').startActiveSpan('checkout', async (span) => {
      await producer.publish({ message_id: 'order-1', data: { spans: spansFile } });
      span.end();
    });
    await waitFor(() => replica.stats.completed === 1, 20_000, 'order-1 processed');
    await producer.publish({ message_id: 'order-1', data: { spans: spansFile } }); // a producer retry
    await producer.publish({ message_id: 'order-2', data: { spans: spansFile, fail: true } });
    await publishRaw(e.ch, e.queue, [{ content: 'not json', props: { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } } }]);
    await producer.close();
    await waitFor(() => replica.stats.duplicates.done === 1 && Object.keys(replica.stats.deadLettered).length === 2, 20_000, 'duplicate and dead letters');
    await waitFor(() => exporter.getFinishedSpans().filter((s) => s.name === `${e.queue} process`).length === 4, 5000, 'process spans ended');

    const spans = exporter.getFinishedSpans();
    const checkout = spans.find((s) => s.name === 'checkout')!;
    const traceOf = (s: ReadableSpan) => s.spanContext().traceId;
    const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
    const order1 = spans.filter((s) => traceOf(s) === traceOf(checkout));
    const byName = (name: string) => order1.filter((s) => s.name === name);

    // publish -> process -> decision, handler, complete: one trace, each parented in turn.
    const [publish] = byName(`${e.queue} publish`);
    expect(parentOf(publish!)).toBe(checkout.spanContext().spanId);
    expect(publish!.attributes).toMatchObject({ 'messaging.system': 'rabbitmq', 'messaging.destination.name': e.queue, 'messaging.message.id': 'order-1' });
    const [processed] = byName(`${e.queue} process`);
    expect(parentOf(processed!)).toBe(publish!.spanContext().spanId);
    expect(processed!.attributes).toMatchObject({ 'messaging.message.id': 'order-1', 'dedup.outcome': 'processed' });
    const steps = order1.filter((s) => parentOf(s) === processed!.spanContext().spanId).map((s) => s.name);
    expect(steps).toEqual(['dedup decision', 'handler', 'dedup complete']);
    expect(byName('dedup decision')[0]!.attributes).toEqual({ 'dedup.decision': 'acquired', 'dedup.attempt': 1 });
    const handler = byName('handler')[0]!;
    expect(handler.attributes).toEqual({ 'dedup.fencing_token': 1 });

    // Across the worker thread: the handler's own span is a child of the handler span.
    await waitFor(() => workerSpans(spansFile).length === 2, 5000, 'worker spans written');
    const inThread = workerSpans(spansFile).find((s) => s.id === 'order-1')!;
    expect(inThread).toMatchObject({ traceId: traceOf(checkout), parentSpanId: handler.spanContext().spanId });

    // The producer's retry of order-1: its own trace, acked as a duplicate.
    const processSpans = spans.filter((s) => s.name === `${e.queue} process`);
    const retry = processSpans.find((s) => s.attributes['messaging.message.id'] === 'order-1' && s !== processed)!;
    expect(retry.attributes).toMatchObject({ 'dedup.outcome': 'duplicate', 'dedup.duplicate.reason': 'done' });
    expect(spans.find((s) => s.spanContext().spanId === parentOf(retry))!.name).toBe(`${e.queue} publish`);
    expect(traceOf(retry)).not.toBe(traceOf(checkout));

    // Dead-lettered, and why: the handler's failure, and a body that is not JSON (under its sender's trace).
    const failed = processSpans.find((s) => s.attributes['messaging.message.id'] === 'order-2')!;
    expect(failed.attributes).toMatchObject({ 'dedup.outcome': 'dead-lettered', 'dedup.dead_letter.reason': 'HANDLER_FAILED', 'dedup.dead_letter.detail': 'card declined' });
    expect(failed.status).toMatchObject({ code: 2, message: 'dead-lettered: HANDLER_FAILED' });
    expect(spans.find((s) => s.name === 'handler' && traceOf(s) === traceOf(failed))!.status).toMatchObject({ code: 2, message: 'card declined' });
    const bad = processSpans.find((s) => s.attributes['dedup.dead_letter.reason'] === 'NOT_JSON')!;
    expect(bad.attributes['dedup.outcome']).toBe('dead-lettered');
    expect(traceOf(bad)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(parentOf(bad)).toBe('00f067aa0ba902b7');
  });
});
