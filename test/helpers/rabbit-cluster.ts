/** A throwaway RabbitMQ cluster on loopback ports (shared with the bench's chaos). */
export { startRabbitCluster, type RabbitCluster, type RabbitNode } from '../../bench/lib/rabbit-cluster.js';
