/** What dedup-pool puts on the messages it republishes: to the retry queue, to the dead-letter queue. */
import type { MessageProperties, Options } from 'amqplib';
import type { Delivery } from './consumer.js';

/** Headers dedup-pool sets on dead-lettered and retried messages. */
export const HEADERS = {
  error: 'x-dedup-error',
  reason: 'x-dedup-reason',
  attempts: 'x-dedup-attempts',
  id: 'x-dedup-id',
  queue: 'x-dedup-queue',
  attempt: 'x-dedup-attempt',
  /** On a retry whose handler's thread died with it (it may have killed the thread): it runs alone. */
  suspect: 'x-dedup-suspect',
  stack: 'x-dedup-stack',
  /** When it was dead-lettered (ms since the epoch). */
  at: 'x-dedup-at',
} as const;

/** The original message's properties, kept on its republished copy. */
export function republishProps(d: Delivery): Options.Publish {
  return keptProps(d.msg.properties);
}

/** The properties a message keeps wherever dedup-pool moves it (persistent, whatever it was). */
export function keptProps(p: MessageProperties): Options.Publish {
  return {
    persistent: true,
    messageId: p.messageId,
    contentType: p.contentType,
    contentEncoding: p.contentEncoding,
    correlationId: p.correlationId,
    replyTo: p.replyTo,
    type: p.type,
    appId: p.appId,
    timestamp: p.timestamp,
  };
}

/** Header values stay readable: long error texts are cut. */
export function truncate(s: string, max = 1000): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** A handler's stack for a header: its first lines, bounded in size. */
export function boundedStack(stack: string, lines = 20, max = 4000): string {
  return truncate(stack.split('\n').slice(0, lines).join('\n'), max);
}
