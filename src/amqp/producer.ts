/**
 * Publishes with publisher confirms and a stable message id. A publish that is not
 * confirmed (refused, unroutable, or its connection lost) is retried with the same
 * id, on the next node when `amqpUrl` lists the nodes of a cluster, so the retries
 * dedupe downstream.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Span } from '@opentelemetry/api';
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import { amqpNodes, assertTopology, connectAmqp, publishConfirmed, queueNames, type QueueType } from './broker.js';
import { PublishError, errorMessage } from '../common/errors.js';
import { redactUrl } from '../common/logger.js';
import { TRACEPARENT, endWithError, formatTraceparent, startPublish, tracerIfRegistered } from '../common/tracing.js';
import { uuidv7 } from '../common/uuidv7.js';

export interface ProducerOptions {
  queue: string;
  /** A URL, or the nodes of one cluster separated by commas. Default `amqp://guest:guest@127.0.0.1:5672`. */
  amqpUrl?: string;
  /** Body field that holds the id when no id is given. Default `message_id`. */
  idField?: string;
  /** Publish attempts before giving up. Default 5. */
  attempts?: number;
  /** Type of the queues created when missing. Default: `DEDUP_QUEUE_TYPE`, else `classic`. */
  queueType?: QueueType;
}

export interface PublishOptions {
  /** The message id; default: the body's id field, else a new UUIDv7. */
  id?: string;
  headers?: Record<string, unknown>;
  /** Content type of a Buffer body, default `application/octet-stream`; `application/json` sends JSON bytes exactly as given. */
  contentType?: string;
}

interface Outgoing {
  id: string;
  content: Buffer;
  props: Options.Publish;
  /** Its publish span, when tracing; its context travels in the traceparent header. */
  span?: Span;
}

export class Producer {
  private conn?: ChannelModel;
  private ch?: ConfirmChannel;
  private opening?: Promise<ConfirmChannel>;
  private readonly nodes: string[];
  /** Index in `nodes` of the node to connect to next. */
  private node: number;
  private readonly idField: string;
  private readonly attempts: number;
  private readonly queueType: QueueType;
  /** Messages published again (same id) because their first publish was not confirmed. */
  resent = 0;
  /** Looked up once: with no OpenTelemetry SDK registered, publishing makes no span. */
  private readonly tracer = tracerIfRegistered();

  constructor(private readonly opts: ProducerOptions) {
    this.nodes = amqpNodes(opts.amqpUrl ?? 'amqp://guest:guest@127.0.0.1:5672');
    this.node = process.pid % this.nodes.length;
    this.idField = opts.idField ?? 'message_id';
    this.attempts = opts.attempts ?? 5;
    this.queueType = opts.queueType ?? (process.env.DEDUP_QUEUE_TYPE === 'quorum' ? 'quorum' : 'classic');
  }

  /** The node connected to now (password redacted), or undefined. */
  get connectedTo(): string | undefined {
    return this.conn ? redactUrl(this.nodes[this.node]!) : undefined;
  }

  /** The id a body will be published under. */
  idFor(body: unknown, given?: string): string {
    if (given) return given;
    const field = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[this.idField] : undefined;
    if (typeof field === 'string' && field.length > 0) return field;
    if (typeof field === 'number' && Number.isSafeInteger(field)) return String(field);
    return uuidv7();
  }

  /** Publish a JSON body (or raw bytes) and resolve with its id once the broker confirmed it. */
  async publish(body: unknown, options: PublishOptions = {}): Promise<string> {
    const [id] = await this.send([this.outgoing(body, options)]);
    return id!;
  }

  /**
   * Publish many bodies at once and resolve with their ids once the broker confirmed
   * every one; those not confirmed are published again (same ids) on a new connection.
   */
  async publishMany(bodies: unknown[], options: Omit<PublishOptions, 'id'> = {}): Promise<string[]> {
    return this.send(bodies.map((b) => this.outgoing(b, options)));
  }

  async close(): Promise<void> {
    await this.ch?.waitForConfirms().catch(() => {});
    await this.reset();
  }

  private outgoing(body: unknown, options: PublishOptions): Outgoing {
    const id = this.idFor(body, options.id);
    const raw = Buffer.isBuffer(body);
    const span = this.tracer && startPublish(this.tracer, this.opts.queue, id);
    const headers = span ? { ...options.headers, [TRACEPARENT]: formatTraceparent(span.spanContext()) } : options.headers;
    return {
      id,
      content: raw ? body : Buffer.from(JSON.stringify(body)),
      props: { messageId: id, persistent: true, contentType: raw ? (options.contentType ?? 'application/octet-stream') : 'application/json', headers },
      ...(span && { span }),
    };
  }

  private async send(messages: Outgoing[]): Promise<string[]> {
    let pending = messages;
    let lastErr: unknown;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      const node = this.node;
      let used: ConfirmChannel | undefined;
      try {
        const ch = (used = await this.channel());
        const results = await Promise.allSettled(pending.map((m) => publishConfirmed(ch, this.opts.queue, m.content, m.props)));
        const failed = pending.filter((_, i) => results[i]!.status === 'rejected');
        if (failed.length === 0) {
          if (this.tracer) for (const m of messages) m.span?.end();
          return messages.map((m) => m.id);
        }
        lastErr = (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason;
        pending = failed;
        this.resent += failed.length;
      } catch (err) {
        lastErr = err;
        this.resent += pending.length;
      }
      // Not confirmed: a new connection, to the next node of a cluster; unless a publish
      // running beside this one has already moved on from the connection that failed.
      if (this.ch === used) {
        await this.reset();
        if (this.node === node) this.nextNode();
      }
      if (attempt < this.attempts) await sleep(Math.min(2000, 50 * 2 ** attempt));
    }
    const ids = pending.length === 1 ? `message ${pending[0]!.id}` : `${pending.length} messages (first ${pending[0]!.id})`;
    const err = new PublishError(`${ids} not confirmed after ${this.attempts} attempts: ${errorMessage(lastErr)}`, { cause: lastErr });
    if (this.tracer) for (const m of messages) if (m.span) (pending.includes(m) ? endWithError(m.span, err) : m.span.end());
    throw err;
  }

  private channel(): Promise<ConfirmChannel> {
    if (this.ch) return Promise.resolve(this.ch);
    // One connect at a time: publishes waiting together after a failure share it.
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async open(): Promise<ConfirmChannel> {
    // A channel the broker closed alone (a message too large, no permission) left its connection open.
    await this.reset();
    const conn = await connectAmqp(this.nodes[this.node]!, `dedup-pool producer ${process.pid}`);
    this.conn = conn;
    conn.on('error', () => {});
    conn.on('close', () => {
      if (this.conn !== conn) return; // closed by us
      this.conn = undefined;
      this.ch = undefined;
      this.nextNode();
    });
    await assertTopology(conn, queueNames(this.opts.queue), { queueType: this.queueType });
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {});
    ch.on('close', () => {
      if (this.ch === ch) this.ch = undefined;
    });
    this.ch = ch;
    return ch;
  }

  private nextNode(): void {
    this.node = (this.node + 1) % this.nodes.length;
  }

  private async reset(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    this.ch = undefined;
    await conn?.close().catch(() => {});
  }
}

export async function createProducer(opts: ProducerOptions): Promise<Producer> {
  return new Producer(opts);
}
