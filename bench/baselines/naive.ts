/**
 * Baseline: the naive design from the well-known article: EXISTS the id, run the
 * handler, SET the id (no expiry), ack. Two of these racing show its duplicates.
 *   BENCH_REDIS, BENCH_PREFIX
 */
import { Redis } from 'ioredis';
import { record, work } from '../handler.js';
import { runBaseline } from './consumer.js';

const redis = new Redis(process.env.BENCH_REDIS ?? 'redis://127.0.0.1:6379');
const prefix = process.env.BENCH_PREFIX ?? 'naive';

await runBaseline(async (msg, ch, summary) => {
  const id = String((JSON.parse(msg.content.toString()) as { message_id: string }).message_id);
  summary.redisCalls += 1;
  if (await redis.exists(`${prefix}:${id}`)) {
    summary.skipped += 1;
    ch.ack(msg);
    return;
  }
  await work();
  record(id);
  const end = performance.now();
  summary.redisCalls += 1;
  await redis.set(`${prefix}:${id}`, 1);
  ch.ack(msg);
  summary.handlerToAckMs.push(performance.now() - end);
});
