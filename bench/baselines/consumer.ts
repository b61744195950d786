/**
 * What both baselines share: one amqplib connection, a prefetch window, a
 * delivery count, and on SIGTERM a summary file, then exit.
 *   BENCH_AMQP, BENCH_QUEUE, BENCH_PREFETCH, BENCH_SUMMARY
 */
import { writeFileSync } from 'node:fs';
import amqp, { type Channel, type ConsumeMessage } from 'amqplib';

export interface BaselineSummary {
  deliveries: number;
  skipped: number;
  /** Redis calls made (the naive consumer's round trips). */
  redisCalls: number;
  /** Per-delivery time from the handler's end to the ack, ms. */
  handlerToAckMs: number[];
}

export async function runBaseline(onMessage: (msg: ConsumeMessage, ch: Channel, summary: BaselineSummary) => Promise<void>): Promise<void> {
  const conn = await amqp.connect(process.env.BENCH_AMQP ?? 'amqp://guest:guest@127.0.0.1:5672');
  const ch = await conn.createChannel();
  await ch.prefetch(Number(process.env.BENCH_PREFETCH ?? 100));
  const summary: BaselineSummary = { deliveries: 0, skipped: 0, redisCalls: 0, handlerToAckMs: [] };
  let chain = Promise.resolve();
  await ch.consume(process.env.BENCH_QUEUE!, (msg) => {
    if (!msg) return;
    summary.deliveries += 1;
    // Handled concurrently up to the prefetch window, like a typical async consumer.
    chain = onMessage(msg, ch, summary).catch((err: unknown) => console.error(err));
  });
  process.once('SIGTERM', () => {
    void chain.finally(async () => {
      writeFileSync(process.env.BENCH_SUMMARY!, JSON.stringify(summary));
      await conn.close().catch(() => {});
      process.exit(0);
    });
  });
  process.send?.('ready');
}
