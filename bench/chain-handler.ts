/**
 * The chain bench's handler (bench/lib/chain.ts), for both stages of a two-stage chain.
 *   BENCH_CHAIN_STAGE      a | b
 *   BENCH_CHAIN_NEXT       stage A: the queue of stage B
 *   BENCH_CHAIN_FOLLOWUPS  stage A: follow-ups per incoming message
 *   BENCH_CHAIN_PUBLISH    stage A: ctx (ctx.publish: sent after the handler, derived ids)
 *                          or own (its own amqplib channel, a new UUID per publish, sent
 *                          while it runs: what a handler without ctx.publish does)
 *   BENCH_AMQP             stage A, own: the broker to publish to
 * Stage A logs its id as a run starts, then does the bench handler's work
 * (BENCH_HANDLER, BENCH_HANDLER_MS) and publishes. Stage B logs
 * "<incoming id>#<position>": the follow-up it stands for, whatever its message
 * id, so copies under fresh ids count as duplicates too.
 */
import { randomUUID } from 'node:crypto';
import amqp, { type ConfirmChannel } from 'amqplib';
import { record, work } from './handler.js';

interface Ctx {
  publish?(queue: string, body: unknown): void;
}
interface Message {
  id: string;
  body: { data?: { from?: string; n?: number } };
}

const stage = process.env.BENCH_CHAIN_STAGE ?? 'a';
const next = process.env.BENCH_CHAIN_NEXT ?? '';
const followups = Number(process.env.BENCH_CHAIN_FOLLOWUPS ?? 1);
const own = process.env.BENCH_CHAIN_PUBLISH === 'own';

/** One confirm channel per thread, opened on first use. */
let channel: Promise<ConfirmChannel> | undefined;
function ownChannel(): Promise<ConfirmChannel> {
  channel ??= amqp.connect(process.env.BENCH_AMQP ?? 'amqp://127.0.0.1').then((c) => c.createConfirmChannel());
  return channel;
}

async function publishOwn(from: string, n: number): Promise<void> {
  const ch = await ownChannel();
  const id = randomUUID();
  const body = Buffer.from(JSON.stringify({ message_id: id, data: { from, n } }));
  await new Promise<void>((resolve, reject) =>
    ch.sendToQueue(next, body, { persistent: true, messageId: id, contentType: 'application/json' }, (err) => (err ? reject(err) : resolve())),
  );
}

export default async function handle(message: Message, ctx: Ctx = {}): Promise<void> {
  if (stage === 'b') {
    const d = message.body.data ?? {};
    record(`${d.from}#${d.n}`);
    return;
  }
  // Logged as it starts: a run killed midway counts as a run (its follow-ups may be out).
  record(message.id);
  await work();
  for (let n = 0; n < followups; n++) {
    if (own) await publishOwn(message.id, n);
    else ctx.publish!(next, { from: message.id, n });
  }
}
