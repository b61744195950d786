/** Broker-side faults through rabbitmqctl (shared with the bench's chaos). */
export { closeConnections } from '../../bench/lib/services.js';
