/**
 * The AMQP side of a replica: one connection and one confirm channel, consuming
 * the work queue with a prefetch window, reconnecting with backoff and jitter
 * when the broker closes either.
 *
 * Each delivery is handed out bound to the channel it came on: its ack, nack and
 * publishes go to that channel only. Delivery tags die with their channel, so
 * after a reconnect the old deliveries' acks are dropped (their messages were
 * requeued by the broker, and their redeliveries are deduplicated).
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { ChannelAcks, type Settleable } from './acks.js';
import { assertTopology, connectAmqp, publishConfirmed, type QueueNames } from './amqp.js';
import { reconnectDelay } from './backoff.js';
import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import { redactUrl } from './logger.js';
import type { TlsFiles } from './tls.js';

export interface Delivery {
  readonly msg: ConsumeMessage;
  /** False once the channel it came on is closed: acks can no longer reach the broker. */
  readonly live: boolean;
  /** Acks are coalesced per channel (see acks.ts); call it once the message is settled. */
  ack(): void;
  /** Give the message back to the broker now. */
  requeue(): void;
  /** Publish on the delivery's own channel and wait for the confirm. */
  publish(queue: string, content: Buffer, props: Options.Publish): Promise<void>;
}

export interface ConsumerOptions {
  amqpUrl: string;
  tls?: TlsFiles;
  names: QueueNames;
  queueType: 'classic' | 'quorum';
  prefetch: number;
}

export interface ConsumerEvents {
  /** Connected and consuming (first time and after every reconnect). */
  consuming: [];
  /** The connection or channel closed unexpectedly; a reconnect follows. */
  lost: [err: Error];
  /** The broker cancelled the consumer (e.g. the queue was deleted); a re-subscribe follows. */
  cancelled: [];
}

/** A delivery bound to the channel it came on. */
class BoundDelivery implements Delivery, Settleable {
  state = 0;
  readonly at = Date.now();

  constructor(
    readonly msg: ConsumeMessage,
    private readonly acks: ChannelAcks,
    private readonly ch: ConfirmChannel,
  ) {
    acks.track(this);
  }

  get live(): boolean {
    return this.acks.live;
  }

  ack(): void {
    this.acks.ack(this);
  }

  requeue(): void {
    this.acks.requeue(this);
  }

  publish(queue: string, content: Buffer, props: Options.Publish): Promise<void> {
    return publishConfirmed(this.ch, queue, content, props);
  }
}

/** Errors that another try will not fix: wrong credentials, no such vhost. */
function isPermanent(err: unknown): boolean {
  return /ACCESS_REFUSED|NOT_ALLOWED|403|530/.test(errorMessage(err));
}

export class Consumer extends EventEmitter<ConsumerEvents> {
  private conn?: ChannelModel;
  private ch?: ConfirmChannel;
  private acks?: ChannelAcks;
  private consumerTag?: string;
  private paused = false;
  private closed = false;
  private reconnecting?: Promise<void>;

  constructor(
    private readonly opts: ConsumerOptions,
    private readonly log: Logger,
    private readonly onDelivery: (d: Delivery) => void,
  ) {
    super();
  }

  /** Consuming now (connected, subscribed, not paused). */
  get consuming(): boolean {
    return this.consumerTag !== undefined;
  }

  /**
   * Connect and subscribe, retrying network failures with backoff until `signal`
   * aborts. Permanent errors (credentials) throw at once.
   */
  start(signal: AbortSignal): Promise<void> {
    return this.connectWithBackoff(true, signal);
  }

  /** Stop receiving deliveries (unacked ones stay ours). */
  async pause(): Promise<void> {
    this.paused = true;
    const tag = this.consumerTag;
    this.consumerTag = undefined;
    if (tag && this.ch) await this.ch.cancel(tag).catch(() => {});
  }

  async resume(): Promise<void> {
    this.paused = false;
    if (this.ch && !this.consumerTag) await this.subscribe(this.ch);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.dropConnection();
  }

  private async connect(): Promise<void> {
    const conn = await connectAmqp(this.opts.amqpUrl, `dedup-pool ${hostname()}:${process.pid}`, this.opts.tls);
    this.conn = conn;
    conn.on('error', (err: Error) => this.log.warn({ err: errorMessage(err) }, 'AMQP connection error'));
    conn.on('close', () => this.onClosed(conn, 'connection'));
    await assertTopology(conn, this.opts.names, this.opts.queueType);
    const ch = await conn.createConfirmChannel();
    this.ch = ch;
    const acks = new ChannelAcks(ch);
    this.acks = acks;
    ch.once('close', () => acks.close());
    ch.on('error', (err: Error) => this.log.warn({ err: errorMessage(err) }, 'AMQP channel error'));
    ch.on('close', () => this.onClosed(conn, 'channel'));
    await ch.prefetch(this.opts.prefetch);
    if (!this.paused) await this.subscribe(ch);
  }

  private async subscribe(ch: ConfirmChannel): Promise<void> {
    const acks = this.acks!;
    const { consumerTag } = await ch.consume(this.opts.names.queue, (msg) => {
      if (msg) return this.onDelivery(new BoundDelivery(msg, acks, ch));
      // The broker cancelled us (queue deleted): subscribe again once the queue is back.
      this.consumerTag = undefined;
      this.log.error({ queue: this.opts.names.queue }, 'consumer cancelled by the broker; re-subscribing');
      this.emit('cancelled');
      void this.resubscribe(ch);
    });
    this.consumerTag = consumerTag;
    this.emit('consuming');
  }

  private async resubscribe(ch: ConfirmChannel): Promise<void> {
    for (let attempt = 0; !this.closed && this.ch === ch && !this.consumerTag && !this.paused; attempt++) {
      await sleep(reconnectDelay(attempt));
      try {
        if (this.conn) await assertTopology(this.conn, this.opts.names, this.opts.queueType);
        if (this.ch === ch && !this.consumerTag) await this.subscribe(ch);
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 're-subscribe failed; retrying');
      }
    }
  }

  private onClosed(conn: ChannelModel, what: string): void {
    if (this.closed || this.conn !== conn || this.reconnecting) return;
    const err = new Error(`AMQP ${what} closed`);
    this.log.error({ err: err.message }, 'lost RabbitMQ; reconnecting');
    this.consumerTag = undefined;
    this.emit('lost', err);
    this.reconnecting = this.dropConnection()
      .then(() => this.connectWithBackoff(false))
      .then(() => this.log.info('reconnected to RabbitMQ'), () => {})
      .finally(() => (this.reconnecting = undefined));
  }

  /**
   * Connect, retrying with backoff and jitter until connected, closed, or `signal`
   * aborts. The first connection tries at once and gives up on a permanent error
   * (credentials); a reconnection waits first and keeps trying.
   */
  private async connectWithBackoff(first: boolean, signal?: AbortSignal): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (!first || attempt > 0) await sleep(reconnectDelay(first ? attempt - 1 : attempt), undefined, { signal }).catch(() => {});
      if (this.closed || signal?.aborted) throw new Error('stopped while connecting to RabbitMQ');
      try {
        await this.connect();
        return;
      } catch (err) {
        await this.dropConnection();
        if (first && isPermanent(err)) throw err;
        this.log.warn({ amqp: redactUrl(this.opts.amqpUrl), err: errorMessage(err), attempt }, 'cannot reach RabbitMQ; retrying');
      }
    }
  }

  private async dropConnection(): Promise<void> {
    const { conn, ch, acks } = this;
    this.conn = undefined;
    this.ch = undefined;
    this.acks = undefined;
    this.consumerTag = undefined;
    // Send the coalesced acks, then close the channel first: its close handshake is
    // ordered after our last acks on that channel, while a bare connection close can overtake them.
    acks?.flush(true);
    await ch?.close().catch(() => {});
    await conn?.close().catch(() => {});
  }
}
