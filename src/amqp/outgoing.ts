/**
 * The channel follow-up messages (ctx.publish) go out on: a confirm channel of its
 * own on the replica's connection. The broker answers some bad publishes (an
 * exchange that does not exist, a message over its size limit) by closing the
 * channel; on this one that fails only the follow-ups in flight, never the
 * consuming channel and its unacked deliveries. Publishes are mandatory and
 * confirmed (broker.ts): a return or a nack is a failed publish.
 */
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import { PublishError, UnroutableError, errorMessage } from '../common/errors.js';
import { publishConfirmedVia } from './broker.js';

/** An exchange found to exist is looked up again after this long. */
const EXCHANGE_RECHECK_MS = 60_000;

export class OutgoingChannel {
  private ch?: ConfirmChannel;
  private conn?: ChannelModel;
  private opening?: Promise<ConfirmChannel>;
  /** Exchange -> when it was last found to exist. */
  private readonly exchanges = new Map<string, number>();

  /** `connection`: the replica's connection now (it changes on a reconnect). */
  constructor(private readonly connection: () => ChannelModel | undefined) {}

  /** Publish and resolve once the broker confirmed it; rejects with UnroutableError when nothing would take it. */
  async publish(exchange: string, routingKey: string, content: Buffer, props: Options.Publish): Promise<void> {
    // A publish to a missing exchange closes its channel: found out first, on a throwaway channel.
    if (exchange !== '' && !exchange.startsWith('amq.')) await this.checkExchange(exchange);
    const ch = await this.channel();
    await publishConfirmedVia(ch, exchange, routingKey, content, props);
  }

  async close(): Promise<void> {
    const ch = this.ch;
    this.ch = undefined;
    await ch?.close().catch(() => {});
  }

  private channel(): Promise<ConfirmChannel> {
    const conn = this.connection();
    if (!conn) return Promise.reject(new PublishError('not connected to RabbitMQ'));
    if (this.ch && this.conn === conn) return Promise.resolve(this.ch);
    this.opening ??= this.open(conn).finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async open(conn: ChannelModel): Promise<ConfirmChannel> {
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {}); // the publishes in flight reject with it
    ch.on('close', () => {
      if (this.ch === ch) this.ch = undefined;
    });
    this.ch = ch;
    this.conn = conn;
    return ch;
  }

  private async checkExchange(name: string): Promise<void> {
    const at = this.exchanges.get(name);
    if (at !== undefined && Date.now() - at < EXCHANGE_RECHECK_MS) return;
    const conn = this.connection();
    if (!conn) throw new PublishError('not connected to RabbitMQ');
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    try {
      await ch.checkExchange(name);
    } catch (err) {
      this.exchanges.delete(name);
      if (/NOT_FOUND/.test(errorMessage(err))) throw new UnroutableError(`exchange '${name}' does not exist`);
      throw new PublishError(`cannot look up exchange '${name}': ${errorMessage(err)}`, { cause: err });
    } finally {
      await ch.close().catch(() => {});
    }
    this.exchanges.set(name, Date.now());
  }
}
