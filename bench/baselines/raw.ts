/** Baseline: a raw amqplib consumer. Runs the handler and acks; no dedup at all. */
import { record, work } from '../handler.js';
import { runBaseline } from './consumer.js';

await runBaseline(async (msg, ch, summary) => {
  await work();
  record(String(msg.properties.messageId));
  const end = performance.now();
  ch.ack(msg);
  summary.handlerToAckMs.push(performance.now() - end);
});
