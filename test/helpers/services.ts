/**
 * Real RabbitMQ and Redis on loopback, with a unique queue name and key prefix
 * per test, removed afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp, { type ChannelModel, type ConfirmChannel, type GetMessage, type Options } from 'amqplib';
import { Redis } from 'ioredis';
import { forEachKeys } from '../../bench/lib/services.js';

export const AMQP_URL = process.env.DEDUP_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const REDIS_URL = process.env.DEDUP_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const LEDGER_HANDLER = new URL('../fixtures/ledger-handler.mjs', import.meta.url).pathname;

export interface TestEnv {
  queue: string;
  prefix: string;
  ledger: string;
  amqp: ChannelModel;
  ch: ConfirmChannel;
  redis: Redis;
  cleanup(): Promise<void>;
}

export async function testEnv(tag: string): Promise<TestEnv> {
  const suffix = randomBytes(4).toString('hex');
  const queue = `test.${tag}.${suffix}`;
  const prefix = `test:${tag}:${suffix}`;
  const ledger = join(mkdtempSync(join(tmpdir(), 'dedup-ledger-')), 'ledger.jsonl');
  const conn = await amqp.connect(AMQP_URL);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, { durable: true });
  const redis = new Redis(REDIS_URL);
  return {
    queue,
    prefix,
    ledger,
    amqp: conn,
    ch,
    redis,
    async cleanup() {
      for (const q of [queue, `${queue}.retry`, `${queue}.dlq`]) await ch.deleteQueue(q).catch(() => {});
      await conn.close().catch(() => {});
      await forEachKeys(redis, `${prefix}:*`, (keys) => redis.del(...keys));
      redis.disconnect();
    },
  };
}

/** Publish raw messages and wait for every confirm. */
export async function publishRaw(ch: ConfirmChannel, queue: string, messages: { content: Buffer | string; props?: Options.Publish }[]): Promise<void> {
  for (const m of messages) {
    ch.sendToQueue(queue, Buffer.isBuffer(m.content) ? m.content : Buffer.from(m.content), { persistent: true, ...m.props });
  }
  await ch.waitForConfirms();
}

/** The article's body, with test knobs in `data`. */
export function body(id: string, data: Record<string, unknown>): { content: string; props: Options.Publish } {
  return { content: JSON.stringify({ message_id: id, data }), props: { contentType: 'application/json' } };
}

export interface LedgerLine {
  ev: 'start' | 'done' | 'tick';
  id: string;
  attempt: number;
  fence: number;
  pid: number;
  /** Worker thread id; 0 for the main thread (--threads 0). */
  thread: number;
  t: number;
}

/**
 * The complete lines of a JSON-lines file that other processes append to. A
 * reader can catch a line half written, so anything after the last newline
 * is left for the next read.
 */
export function readJsonLines<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

export function readLedger(path: string): LedgerLine[] {
  return readJsonLines<LedgerLine>(path);
}

/** How many times each id's handler finished (its effect happened). */
export function executions(path: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const l of readLedger(path)) if (l.ev === 'done') counts.set(l.id, (counts.get(l.id) ?? 0) + 1);
  return counts;
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function queueDepth(ch: ConfirmChannel, queue: string): Promise<number> {
  return (await ch.checkQueue(queue)).messageCount;
}

/** Take every message off a queue (acking them). */
export async function drain(ch: ConfirmChannel, queue: string): Promise<GetMessage[]> {
  const out: GetMessage[] = [];
  for (;;) {
    const m = await ch.get(queue, { noAck: true });
    if (!m) return out;
    out.push(m);
  }
}
