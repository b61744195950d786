/**
 * Loaded with `node --import` into the traced bench variant: an OpenTelemetry SDK
 * that samples every span and batches them to an exporter that drops them, so the
 * row shows what recording spans costs a replica, without an exporter's network I/O.
 */
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';

const discard: SpanExporter = {
  export: (_spans: ReadableSpan[], done) => done({ code: 0 }),
  shutdown: async () => {},
};
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(discard, { maxQueueSize: 65_536, maxExportBatchSize: 4096 })] }));
