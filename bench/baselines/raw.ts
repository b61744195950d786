/** Baseline: a raw amqplib consumer. Parses the body, runs the handler and acks; no dedup at all. */
import { record, work } from '../handler.js';
import { runBaseline } from './consumer.js';

await runBaseline(async (msg, ch, summary) => {
  const { message_id: id } = JSON.parse(msg.content.toString()) as { message_id: string };
  await work();
  record(String(id));
  const end = performance.now();
  ch.ack(msg);
  summary.handlerToAckMs.push(performance.now() - end);
});
