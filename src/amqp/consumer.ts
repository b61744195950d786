/**
 * The AMQP side of a replica: one connection and one confirm channel, consuming
 * the work queue with a prefetch window, reconnecting with backoff and jitter
 * when the broker closes either.
 *
 * Each delivery is handed out bound to the channel it came on: its ack, nack and
 * publishes go to that channel only. Delivery tags die with their channel, so
 * after a reconnect the old deliveries' acks are dropped (their messages were
 * requeued by the broker, and their redeliveries are deduplicated).
 *
 * `--amqp` may list the nodes of one cluster: each consumer starts at a different
 * node (so replicas spread), and moves to the next one when its node is lost.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { ChannelAcks, type Settleable } from './acks.js';
import { assertTopology, connectAmqp, publishConfirmed, type QueueNames, type TopologyNote, type TopologyOptions } from './broker.js';
import { reconnectDelay } from '../common/backoff.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { redactUrl } from '../common/logger.js';
import type { TlsFiles } from '../common/tls.js';

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
  /** The nodes of one RabbitMQ cluster (or a single broker). */
  amqpUrls: string[];
  tls?: TlsFiles;
  names: QueueNames;
  topology: TopologyOptions;
  prefetch: number;
  /** Index in `amqpUrls` to connect to first (a supervisor numbers its replicas); default: spread by pid. */
  firstNode?: number;
}

/** Consumers of this process start at different nodes (processes differ by pid). */
let consumersMade = 0;

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
  /** A connect loop is running: a close it causes or meets is its own to handle (one loop at a time). */
  private connecting = false;
  /** The connection or channel closed while the loop was setting them up. */
  private lostWhileConnecting = false;
  /** The subscribe in flight, joined by overlapping callers so a channel never gets two consumers. */
  private subscribing?: { ch: ConfirmChannel; done: Promise<void> };
  /** Index in `amqpUrls` of the node to connect to next. */
  private node: number;
  private readonly warned = new Set<string>();

  constructor(
    private readonly opts: ConsumerOptions,
    private readonly log: Logger,
    private readonly onDelivery: (d: Delivery) => void,
  ) {
    super();
    this.node = (opts.firstNode ?? process.pid + consumersMade++) % opts.amqpUrls.length;
  }

  /** The node connected to now (redacted), or undefined. */
  get connectedTo(): string | undefined {
    return this.conn ? redactUrl(this.opts.amqpUrls[this.node]!) : undefined;
  }

  /** The connection now, if any: follow-ups go out on a channel of their own on it (outgoing.ts). */
  get connection(): ChannelModel | undefined {
    return this.conn;
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

  /** Stop receiving deliveries (unacked ones stay ours); once it resolves, no consumer is left. */
  async pause(): Promise<void> {
    this.paused = true;
    const tag = this.consumerTag;
    this.consumerTag = undefined;
    if (tag && this.ch) await this.ch.cancel(tag).catch(() => {});
    // A subscribe in flight cancels itself when it sees the pause.
    await this.subscribing?.done.catch(() => {});
  }

  async resume(): Promise<void> {
    this.paused = false;
    const ch = this.ch;
    // Not connected: connect() subscribes. Two tries: the first may join a subscribe that a
    // pause (since undone) overtook, which then cancelled itself.
    try {
      for (let i = 0; i < 2 && ch && this.ch === ch && !this.consumerTag && !this.paused; i++) await this.subscribe(ch);
    } catch (err) {
      // A failed consume closes its channel: the reconnect subscribes, as it is no longer paused.
      this.log.warn({ err: errorMessage(err) }, 'resume failed; consuming again once reconnected');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.dropConnection();
  }

  private async connect(): Promise<void> {
    const conn = await connectAmqp(this.opts.amqpUrls[this.node]!, `dedup-pool ${hostname()}:${process.pid}`, this.opts.tls);
    if (this.closed) {
      // close() ran while this connection was being opened: nobody else knows of it.
      await conn.close().catch(() => {});
      throw new Error('stopped while connecting to RabbitMQ');
    }
    this.conn = conn;
    conn.on('error', (err: Error) => this.log.warn({ err: errorMessage(err) }, 'AMQP connection error'));
    conn.on('close', () => this.onClosed(conn, 'connection'));
    this.report(await assertTopology(conn, this.opts.names, this.opts.topology));
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

  /** Consume on `ch`, or join the subscribe already in flight on it. */
  private subscribe(ch: ConfirmChannel): Promise<void> {
    if (this.subscribing?.ch !== ch) {
      const done = this.consume(ch).finally(() => {
        if (this.subscribing?.done === done) this.subscribing = undefined;
      });
      this.subscribing = { ch, done };
    }
    return this.subscribing.done;
  }

  private async consume(ch: ConfirmChannel): Promise<void> {
    const acks = this.acks!;
    const { consumerTag } = await ch.consume(this.opts.names.queue, (msg) => {
      if (msg) return this.onDelivery(new BoundDelivery(msg, acks, ch));
      // The broker cancelled us (queue deleted): subscribe again once the queue is back.
      this.consumerTag = undefined;
      this.log.error({ queue: this.opts.names.queue }, 'consumer cancelled by the broker; re-subscribing');
      this.emit('cancelled');
      void this.resubscribe(ch);
    });
    if (this.paused || this.closed || this.ch !== ch) {
      // A pause (or the channel's end) overtook this subscribe: undo it.
      await ch.cancel(consumerTag).catch(() => {});
      return;
    }
    this.consumerTag = consumerTag;
    this.emit('consuming');
  }

  private async resubscribe(ch: ConfirmChannel): Promise<void> {
    for (let attempt = 0; !this.closed && this.ch === ch && !this.consumerTag && !this.paused; attempt++) {
      await sleep(reconnectDelay(attempt));
      try {
        if (this.conn) this.report(await assertTopology(this.conn, this.opts.names, this.opts.topology));
        if (this.ch === ch && !this.consumerTag) await this.subscribe(ch);
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 're-subscribe failed; retrying');
      }
    }
  }

  /** Warn once per queue about what the topology check found. */
  private report(notes: TopologyNote[]): void {
    for (const n of notes) {
      if (this.warned.has(`${n.kind}:${n.queue}`)) continue;
      this.warned.add(`${n.kind}:${n.queue}`);
      if (n.kind === 'type-mismatch') {
        this.log.warn(
          { queue: n.queue, type: n.actual, queueType: n.wanted },
          `queue ${n.queue} exists as a ${n.actual} queue: --queue-type ${n.wanted} applies only to queues the pool creates (a queue's type cannot change; it is used as it is)`,
        );
      } else if (n.kind === 'no-dead-letter') {
        this.log.warn(
          { queue: n.queue },
          `quorum queue ${n.queue} has no dead-letter exchange: past its delivery limit (20 by default since RabbitMQ 4.0) the broker drops a message instead of dead-lettering it, unless a policy sets one; add a policy (dead-letter-exchange "", dead-letter-routing-key ${n.dlq}, dead-letter-strategy at-least-once) or let the pool create the queue`,
        );
      } else {
        this.log.error({ queue: n.queue, err: n.error }, `queue ${n.queue} is unavailable: messages that go there are requeued until it is back`);
      }
    }
  }

  private onClosed(conn: ChannelModel, what: string): void {
    if (this.closed || this.conn !== conn || this.reconnecting) return;
    if (this.connecting) {
      // The loop setting this connection up retries it: a second loop would race it.
      this.lostWhileConnecting = true;
      return;
    }
    const err = new Error(`AMQP ${what} closed`);
    const lost = this.connectedTo;
    this.log.error({ err: err.message, amqp: lost }, 'lost RabbitMQ; reconnecting');
    this.consumerTag = undefined;
    this.emit('lost', err);
    // Another node first: the one just lost is the least likely to be back soon.
    this.node = (this.node + 1) % this.opts.amqpUrls.length;
    this.reconnecting = this.dropConnection()
      .then(() => this.connectWithBackoff(false))
      .then(() => this.log.info({ amqp: this.connectedTo, was: lost }, 'reconnected to RabbitMQ'), () => {})
      .finally(() => (this.reconnecting = undefined));
  }

  /**
   * Connect, retrying with backoff and jitter until connected, closed, or `signal`
   * aborts; each try goes to the next node, and the delay grows once per round of
   * the nodes. The first connection tries at once and gives up on a permanent error
   * (credentials); a reconnection waits first and keeps trying.
   */
  private async connectWithBackoff(first: boolean, signal?: AbortSignal): Promise<void> {
    const nodes = this.opts.amqpUrls.length;
    for (let attempt = 0; ; attempt++) {
      const round = Math.floor(attempt / nodes);
      if (!first || attempt > 0) await sleep(reconnectDelay(first ? Math.max(0, round - 1) : round), undefined, { signal }).catch(() => {});
      if (this.closed || signal?.aborted) throw new Error('stopped while connecting to RabbitMQ');
      try {
        this.connecting = true;
        this.lostWhileConnecting = false;
        try {
          await this.connect();
        } finally {
          this.connecting = false;
        }
        if (this.lostWhileConnecting) throw new Error('AMQP connection closed while it was being set up');
        if (first) this.log.info({ amqp: this.connectedTo }, 'connected to RabbitMQ');
        return;
      } catch (err) {
        const url = this.opts.amqpUrls[this.node]!;
        await this.dropConnection();
        if (first && isPermanent(err)) throw err;
        this.log.warn({ amqp: redactUrl(url), err: errorMessage(err), attempt }, 'cannot reach RabbitMQ; retrying');
        this.node = (this.node + 1) % nodes;
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
    // From here amqplib throws on an ack or nack: later settles are dropped (the broker requeues).
    acks?.close();
    await ch?.close().catch(() => {});
    await conn?.close().catch(() => {});
  }
}
