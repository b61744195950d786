/**
 * ctx.publish on the handler's side. Each call is checked and turned, where the
 * handler runs, into the exact message to publish (id, bytes, properties), then
 * carried back with the task's result. Nothing is sent from here: the replica
 * publishes them after the handler succeeded and before the completion record
 * (replica/followups.ts), or, in inbox mode, they are written to the outbox in the
 * handler's transaction first (store/outbox.ts). docs/chains.md has the rules.
 */
import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { MAX_ID_BYTES } from '../amqp/message.js';
import { DedupPoolError } from '../common/errors.js';
import { followupId } from '../common/followup-ids.js';
import { TRACEPARENT, formatTraceparent } from '../common/tracing.js';
import type { OutboxMessage } from '../store/outbox.js';

/** What a thread needs to build follow-ups; it travels once, in the worker's start-up data. */
export interface FollowupConfig {
  /** The dedup scope: part of every derived id. */
  scope: string;
  /** Body field that carries the id (--id-field). */
  idField: string;
  /** Largest follow-up body (--max-bytes). */
  maxBytes: number;
}

export type HeaderValue = OutboxMessage['headers'][string];

export interface FollowupOptions {
  /** The follow-up's id; default: the body's id field, else derived (scope, incoming id, position). */
  id?: string;
  headers?: Record<string, HeaderValue>;
  /** Raw (Buffer) bodies only; default `application/octet-stream`. */
  contentType?: string;
  /** Default true. */
  persistent?: boolean;
}

/** One follow-up, ready to publish: the same on every run of the same handler input (the outbox row's shape). */
export type Followup = OutboxMessage;

/** Headers every follow-up carries besides the handler's own. */
export const FOLLOWUP_HEADERS = { id: 'x-message-id', of: 'x-dedup-followup-of' } as const;

const OPTION_KEYS = new Set(['id', 'headers', 'contentType', 'persistent']);
/** Names RabbitMQ accepts for an exchange (the default exchange is ''). */
const EXCHANGE_NAME = /^[\w.:-]*$/;

export type PublishFn = {
  (exchange: string, routingKey: string, body: unknown, options?: FollowupOptions): void;
  (queue: string, body: unknown): void;
};

/** The follow-ups of one handler run. */
export class FollowupCalls {
  readonly list: Followup[] = [];
  /** The first refused call: the run fails with BAD_FOLLOWUP even when the handler caught it. */
  misuse: DedupPoolError | undefined;
  private closed = false;

  constructor(
    private readonly cfg: FollowupConfig | undefined,
    private readonly incoming: { id: string; headers: Record<string, unknown> },
    private readonly log: () => Logger,
  ) {}

  /** The run is over: later calls are not sent (they are logged). */
  close(): void {
    this.closed = true;
  }

  readonly publish: PublishFn = (...args: unknown[]): void => {
    if (this.closed) {
      this.log().error({ args: args.length }, 'ctx.publish called after the handler returned: not sent (await your work before returning)');
      return;
    }
    try {
      this.list.push(this.build(args));
    } catch (err) {
      const e = err instanceof DedupPoolError ? err : new DedupPoolError('BAD_FOLLOWUP', String(err));
      this.misuse ??= e;
      throw e;
    }
  };

  private build(args: unknown[]): Followup {
    const position = this.list.length;
    const bad = (why: string): never => {
      throw new DedupPoolError('BAD_FOLLOWUP', `follow-up ${position + 1} (ctx.publish call ${position + 1}): ${why}`);
    };
    if (!this.cfg) bad('ctx.publish is not available here');
    const cfg = this.cfg!;
    if (args.length !== 2 && args.length !== 3 && args.length !== 4) bad(`takes (queue, body) or (exchange, routingKey, body, options?), not ${args.length} arguments`);
    const [exchange, routingKey, body, options = {}] = args.length === 2 ? ['', args[0], args[1]] : args;
    if (typeof exchange !== 'string' || !EXCHANGE_NAME.test(exchange) || exchange.length > 255) bad(`exchange ${JSON.stringify(exchange)} is not an exchange name`);
    if (typeof routingKey !== 'string' || Buffer.byteLength(routingKey) > 255) bad(`routing key ${JSON.stringify(routingKey)} is not a string of at most 255 bytes`);
    if (exchange === '' && routingKey === '') bad('the default exchange needs a queue name as its routing key');
    const o = checkOptions(options, bad);
    const raw = body instanceof Uint8Array;
    const own = !raw && isPlainObject(body) ? body[cfg.idField] : undefined;
    if (own !== undefined && (typeof own !== 'string' || own === '')) bad(`the body's ${cfg.idField} must be a non-empty string`);
    if (o.id !== undefined && own !== undefined && o.id !== own) bad(`options.id ${JSON.stringify(o.id)} differs from the body's ${cfg.idField} ${JSON.stringify(own)}`);
    const id = o.id ?? (own as string | undefined) ?? followupId(cfg.scope, this.incoming.id, position);
    if (Buffer.byteLength(id) > MAX_ID_BYTES || /[\u0000-\u001f\u007f]/.test(id)) bad(`id ${JSON.stringify(id)} is over ${MAX_ID_BYTES} bytes or holds control characters`);
    if (body === undefined) bad('body is undefined');
    if (raw && o.contentType === 'application/json') bad('a Buffer body is sent as raw bytes: pass the object itself to send JSON');
    if (!raw && o.contentType !== undefined) bad('contentType applies to Buffer bodies only (JSON bodies are application/json)');
    let content: string | Uint8Array;
    try {
      // A copy of exact size: a pooled Buffer's view would carry its whole pool to the main thread.
      content = raw ? new Uint8Array(body) : JSON.stringify(own !== undefined ? body : { [cfg.idField]: id, data: body });
    } catch (err) {
      return bad(`body cannot be written as JSON: ${(err as Error).message}`);
    }
    const size = raw ? content.length : Buffer.byteLength(content as string);
    if (size > cfg.maxBytes) bad(`body is ${size} bytes, over --max-bytes ${cfg.maxBytes} (to ${describeTarget(exchange as string, routingKey as string)})`);
    const traceparent = o.headers?.[TRACEPARENT] ?? activeTraceparent() ?? this.incoming.headers[TRACEPARENT];
    const headers: Record<string, HeaderValue> = {
      ...o.headers,
      [FOLLOWUP_HEADERS.id]: id,
      [FOLLOWUP_HEADERS.of]: this.incoming.id,
      ...(typeof traceparent === 'string' && { [TRACEPARENT]: traceparent }),
    };
    return {
      position,
      exchange: exchange as string,
      routingKey: routingKey as string,
      id,
      content,
      contentType: raw ? (o.contentType ?? 'application/octet-stream') : 'application/json',
      persistent: o.persistent ?? true,
      headers,
    };
  }
}

/** "exchange 'x' routing key 'k'", or "queue 'q'" for the default exchange. */
export function describeTarget(exchange: string, routingKey: string): string {
  return exchange === '' ? `queue '${routingKey}'` : `exchange '${exchange}' routing key '${routingKey}'`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function checkOptions(options: unknown, bad: (why: string) => never): FollowupOptions {
  if (!isPlainObject(options)) bad('options must be an object');
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!OPTION_KEYS.has(k)) bad(`unknown option ${JSON.stringify(k)} (known: ${[...OPTION_KEYS].join(', ')})`);
  if (o.id !== undefined && (typeof o.id !== 'string' || o.id === '')) bad('options.id must be a non-empty string');
  if (o.contentType !== undefined && typeof o.contentType !== 'string') bad('options.contentType must be a string');
  if (o.persistent !== undefined && typeof o.persistent !== 'boolean') bad('options.persistent must be a boolean');
  if (o.headers !== undefined) {
    if (!isPlainObject(o.headers)) bad('options.headers must be an object');
    for (const [k, v] of Object.entries(o.headers as object)) {
      if (!['string', 'number', 'boolean'].includes(typeof v)) bad(`header ${JSON.stringify(k)} must be a string, number or boolean`);
    }
  }
  return o as FollowupOptions;
}

/** The W3C context of the span the handler runs in, when an OpenTelemetry SDK is registered. */
function activeTraceparent(): string | undefined {
  const sc = trace.getSpanContext(context.active());
  return sc && isSpanContextValid(sc) ? formatTraceparent(sc) : undefined;
}
