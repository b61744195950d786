// Publishing from code: publisher confirms, the id taken from the body's message_id, and a
// resend under the same id (here on purpose) acked downstream as a duplicate.
//   node examples/producer.mjs [queue]        (default: DEDUP_QUEUE, else task_queue)
import { Producer } from 'dedup-pool';

const queue = process.argv[2] ?? process.env.DEDUP_QUEUE ?? 'task_queue';
const producer = new Producer({ queue, amqpUrl: process.env.DEDUP_AMQP_URL });
try {
  for (const [id, data] of [['order-1', 'Hello, World!'], ['order-2', 'second'], ['order-1', 'Hello, World!']]) {
    // Resolves once the broker has confirmed the message; retried with the same id if not.
    await producer.publish({ message_id: id, data });
    console.log(`published ${id} to ${queue}`);
  }
} finally {
  await producer.close(); // its connection would keep the process alive
}
