/**
 * npm start: publish a batch with duplicates and two malformed messages to a fresh
 * queue on the local RabbitMQ, run one replica over it, print what happened.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { Producer, Replica } from '../src/index.js';

const AMQP_URL = process.env.DEDUP_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const REDIS_URL = process.env.DEDUP_REDIS_URL ?? 'redis://127.0.0.1:6379';
const UNIQUE = 2000;
const DUPLICATES = 1000;

async function main(): Promise<void> {
  const tag = randomBytes(3).toString('hex');
  const queue = `demo.orders.${tag}`;
  const prefix = `demo:${tag}`;

  // Duplicates of every kind: adjacent copies, producer retries of the same id, and a client resending much later.
  const ids = Array.from({ length: UNIQUE }, (_, i) => `order-${i}`);
  const bodies = ids.map((id) => ({ message_id: id, data: { amount: 10 } }));
  const batch = [...bodies];
  for (let i = 0; i < DUPLICATES; i++) {
    const copy = bodies[(i * 7919) % UNIQUE]!;
    if (i % 2 === 0) batch.splice(batch.indexOf(copy) + 1, 0, copy);
    else batch.push(copy);
  }
  const producer = new Producer({ queue, amqpUrl: AMQP_URL });
  for (const b of batch) await producer.publish(b);
  await producer.close();

  // The article's two classic mistakes: str(dict) instead of json.dumps, and no id at all.
  const conn = await amqp.connect(AMQP_URL);
  const ch = await conn.createConfirmChannel();
  ch.sendToQueue(queue, Buffer.from("{'message_id': 'py-1', 'data': 'Hello, World!'}"), { persistent: true });
  ch.sendToQueue(queue, Buffer.from(JSON.stringify({ data: 'no id' })), { persistent: true });
  await ch.waitForConfirms();
  const published = batch.length + 2;

  const started = performance.now();
  const replica = await new Replica({
    queue,
    prefix,
    handler: fileURLToPath(new URL('../../examples/handler.mjs', import.meta.url)),
    amqpUrl: AMQP_URL,
    redisUrls: [REDIS_URL],
    logLevel: process.env.DEDUP_LOG_LEVEL ?? 'error',
  }).start();
  const s = replica.stats;
  const settled = (): number => s.completed + s.duplicates.done + s.duplicates['in-flight'] + Object.values(s.deadLettered).reduce((a, b) => a + b, 0);
  while (settled() < published) await new Promise((r) => setTimeout(r, 50));
  const seconds = (performance.now() - started) / 1000;
  await replica.stop();

  const dlq = (await ch.checkQueue(`${queue}.dlq`)).messageCount;
  const rows: [string, string | number][] = [
    ['published', published],
    ['unique ids', UNIQUE],
    ['processed (handler ran)', s.completed],
    ['duplicates skipped', s.duplicates.done + s.duplicates['in-flight']],
    ['  already completed', s.duplicates.done],
    ['  in flight elsewhere, waited', s.duplicates['in-flight']],
    ['dead-lettered', Object.entries(s.deadLettered).map(([r, n]) => `${n} (${r})`).join(', ')],
    ['now in the dead-letter queue', dlq],
    ['time', `${seconds.toFixed(2)} s (${Math.round(UNIQUE / seconds)} ids/s)`],
  ];
  console.log(`\ndedup-pool demo on ${queue} (threads ${replica.opts.threads}, prefetch ${replica.opts.prefetch})\n`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(32)} ${v}`);
  const ok = s.completed === UNIQUE && dlq === 2;
  console.log(`\n  ${ok ? 'OK: every unique id processed once, bad input dead-lettered.' : 'UNEXPECTED RESULT'}\n`);

  for (const q of [queue, `${queue}.retry`, `${queue}.dlq`]) await ch.deleteQueue(q);
  await conn.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  process.exitCode = ok ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${(err as Error).message}`);
  process.exitCode = 1;
});
