/**
 * Depth of the work queue and its dead-letter and retry queues, for `status`.
 * One AMQP connection, opened on the first read and kept; a read is a passive
 * check of each queue on a short-lived channel (a failed check closes its channel).
 */
import type { ChannelModel } from 'amqplib';
import { queueNames } from './broker.js';
import { connectAnyNode } from './connect-any.js';
import { errorMessage } from '../common/errors.js';
import { redactSecrets } from '../common/redact.js';
import type { TlsFiles } from '../common/tls.js';

export type Depths = { queue: number; consumers: number; dlq: number; retry: number } | { error: string };

const CACHE_MS = 1000;
const STALE_MS = 10_000;
const TIMEOUT_MS = 2000;

export class QueueDepths {
  private conn?: Promise<ChannelModel>;
  private last?: { at: number; value: Depths };
  private checking?: Promise<Depths>;

  constructor(
    private readonly amqpUrl: string,
    private readonly queue: string,
    private readonly tls: TlsFiles = {},
  ) {}

  /**
   * The depths. With an answer less than STALE_MS old, /status does not wait for the
   * broker: it gets that answer while a fresh one is fetched (at most every CACHE_MS).
   */
  read(): Promise<Depths> {
    if (!this.checking && (!this.last || Date.now() - this.last.at >= CACHE_MS)) {
      this.checking = this.check()
        .catch((err: unknown): Depths => {
          this.reset();
          return { error: redactSecrets(errorMessage(err)) };
        })
        .then((value) => {
          this.last = { at: Date.now(), value };
          this.checking = undefined;
          return value;
        });
    }
    const recent = this.last && Date.now() - this.last.at < STALE_MS;
    return recent ? Promise.resolve(this.last!.value) : (this.checking ?? Promise.resolve(this.last!.value));
  }

  async close(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    await conn?.then((c) => c.close()).catch(() => {});
  }

  private async check(): Promise<Depths> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`RabbitMQ did not answer within ${TIMEOUT_MS}ms`)), TIMEOUT_MS);
    });
    try {
      return await Promise.race([this.checkAll(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async checkAll(): Promise<Depths> {
    const conn = await this.connection();
    const names = queueNames(this.queue);
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    try {
      const [q, dlq, retry] = [await ch.checkQueue(names.queue), await ch.checkQueue(names.dlq), await ch.checkQueue(names.retry)];
      return { queue: q.messageCount, consumers: q.consumerCount, dlq: dlq.messageCount, retry: retry.messageCount };
    } finally {
      await ch.close().catch(() => {});
    }
  }

  private connection(): Promise<ChannelModel> {
    if (!this.conn) {
      const opening: Promise<ChannelModel> = connectAnyNode(this.amqpUrl, `dedup-pool admin ${process.pid}`, this.tls).then((c) => {
        c.on('error', () => {});
        // Only the current connection's loss resets: a replaced one closing must not close its successor.
        c.on('close', () => {
          if (this.conn === opening) this.reset();
        });
        return c;
      });
      this.conn = opening;
    }
    return this.conn;
  }

  private reset(): void {
    const conn = this.conn;
    this.conn = undefined;
    void conn?.then((c) => c.close()).catch(() => {});
  }
}
