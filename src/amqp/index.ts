/**
 * amqp: everything that talks to RabbitMQ. Connections (a node list, failover),
 * the queues and their dead-letter and retry queues, the consumer whose deliveries
 * stay bound to their channel, acks coalesced per channel, the producer (confirms,
 * stable ids, retries on the next node), turning a delivery into { id, body } or a
 * dead-letter reason, the headers put on republished copies, and the dead-letter tools.
 *
 * May import: common.
 */
export { Producer, createProducer, type ProducerOptions, type PublishOptions } from './producer.js';
export { Consumer, type Delivery } from './consumer.js';
export { parseDelivery, type HandlerMessage } from './message.js';
export { HEADERS } from './republish.js';
export {
  listDeadLetters,
  replayDeadLetters,
  purgeDeadLetters,
  type DeadLetter,
  type DeadLetterFilter,
  type DeadLetterListing,
  type DeadLetterOptions,
} from './dead-letters.js';
