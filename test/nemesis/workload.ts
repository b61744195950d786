/**
 * The workload: N ids plus 20% copies (half right after their original, half anywhere
 * later), published straight to the broker (no proxy) with confirms, in batches spread
 * over the fault schedule. Only confirmed messages count as published.
 */
import type { ConfirmChannel } from 'amqplib';
import { rng } from './schedule.js';

export interface WorkloadShape {
  ids: number;
  copies: number;
  /** Each message's handler sleeps a random 0..sleepMs (so faults find handlers running). */
  sleepMs: number;
  tag: string;
  ledger: string;
  /** Redis-atomic mode: the sink key prefix the handler's effects write under. */
  sink?: string;
}

export interface Message {
  id: string;
  data: Record<string, unknown>;
}

export function buildWorkload(seed: number, w: WorkloadShape): Message[] {
  const r = rng(seed ^ 0x5eed);
  const ids = Array.from({ length: w.ids }, (_, i) => `${w.tag}-${i}`);
  const order: string[] = [...ids];
  for (let c = 0; c < Math.round(w.ids * w.copies); c++) {
    const id = ids[Math.floor(r() * ids.length)]!;
    // Half right after the original (the same batch), half at a random later place.
    const after = order.indexOf(id) + 1;
    order.splice(c % 2 === 0 ? after : after + Math.floor(r() * (order.length - after + 1)), 0, id);
  }
  const sleepOf = new Map(ids.map((id) => [id, Math.round(r() * w.sleepMs)]));
  return order.map((id) => ({ id, data: { ledger: w.ledger, sleepMs: sleepOf.get(id), ...(w.sink && { sink: w.sink }) } }));
}

export async function publish(ch: ConfirmChannel, queue: string, messages: Message[]): Promise<void> {
  for (const m of messages) {
    ch.sendToQueue(queue, Buffer.from(JSON.stringify({ message_id: m.id, data: m.data })), { persistent: true, contentType: 'application/json' });
  }
  await ch.waitForConfirms();
}

/**
 * Publishes `messages` in `batches` batches, one every `everyMs`; returns the confirmed
 * ids with how many copies of each were confirmed.
 */
export async function publishPaced(ch: ConfirmChannel, queue: string, messages: Message[], batches: number, everyMs: number, stop: () => boolean): Promise<Map<string, number>> {
  const confirmed = new Map<string, number>();
  const size = Math.ceil(messages.length / batches);
  for (let b = 0; b * size < messages.length; b++) {
    const batch = messages.slice(b * size, (b + 1) * size);
    await publish(ch, queue, batch);
    for (const m of batch) confirmed.set(m.id, (confirmed.get(m.id) ?? 0) + 1);
    // The schedule ended early: the rest goes at once.
    if (!stop()) await new Promise((r) => setTimeout(r, everyMs));
  }
  return confirmed;
}
