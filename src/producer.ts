/**
 * Publishes with publisher confirms and a stable message id. A publish that fails
 * is retried on a fresh connection with the same id, so the retries dedupe downstream.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { assertTopology, connectAmqp, publishConfirmed, queueNames } from './amqp.js';
import { PublishError, errorMessage } from './errors.js';
import { uuidv7 } from './uuidv7.js';

export interface ProducerOptions {
  queue: string;
  /** Default `amqp://guest:guest@127.0.0.1:5672`. */
  amqpUrl?: string;
  /** Body field that holds the id when no id is given. Default `message_id`. */
  idField?: string;
  /** Publish attempts before giving up. Default 5. */
  attempts?: number;
}

export interface PublishOptions {
  /** The message id; default: the body's id field, else a new UUIDv7. */
  id?: string;
  headers?: Record<string, unknown>;
}

export class Producer {
  private conn?: ChannelModel;
  private ch?: ConfirmChannel;
  private readonly amqpUrl: string;
  private readonly idField: string;
  private readonly attempts: number;

  constructor(private readonly opts: ProducerOptions) {
    this.amqpUrl = opts.amqpUrl ?? 'amqp://guest:guest@127.0.0.1:5672';
    this.idField = opts.idField ?? 'message_id';
    this.attempts = opts.attempts ?? 5;
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
    const id = this.idFor(body, options.id);
    const raw = Buffer.isBuffer(body);
    const content = raw ? body : Buffer.from(JSON.stringify(body));
    const props = {
      messageId: id,
      persistent: true,
      contentType: raw ? 'application/octet-stream' : 'application/json',
      headers: options.headers,
    };
    let lastErr: unknown;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        await publishConfirmed(await this.channel(), this.opts.queue, content, props);
        return id;
      } catch (err) {
        lastErr = err;
        await this.reset();
        if (attempt < this.attempts) await sleep(Math.min(2000, 50 * 2 ** attempt));
      }
    }
    throw new PublishError(`message ${id} not confirmed after ${this.attempts} attempts: ${errorMessage(lastErr)}`, { cause: lastErr });
  }

  async close(): Promise<void> {
    await this.ch?.waitForConfirms().catch(() => {});
    await this.reset();
  }

  private async channel(): Promise<ConfirmChannel> {
    if (this.ch) return this.ch;
    this.conn = await connectAmqp(this.amqpUrl, `dedup-pool producer ${process.pid}`);
    this.conn.on('error', () => {});
    this.conn.on('close', () => {
      this.conn = undefined;
      this.ch = undefined;
    });
    await assertTopology(this.conn, queueNames(this.opts.queue), 'classic');
    const ch = await this.conn.createConfirmChannel();
    ch.on('error', () => {});
    ch.on('close', () => {
      if (this.ch === ch) this.ch = undefined;
    });
    this.ch = ch;
    return ch;
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
