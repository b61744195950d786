export { Replica, startReplica, retryDelay, HEADERS, type ReplicaEvents } from './replica.js';
export { Producer, createProducer, type ProducerOptions, type PublishOptions } from './producer.js';
export { DedupStore, connectRedis, encodeRecord, type BeginResult, type Lease } from './dedup-store.js';
export { keysFor, type Keys } from './keys.js';
export { resolveOptions, withDefaults, validate, OPTION_SPECS, type PoolOptions, type OptionsInput, type IdSource } from './options.js';
export { parseDelivery, type HandlerMessage } from './message.js';
export type { HandlerContext } from '../workers/handler-worker.js';
export type { ReplicaStats } from './stats.js';
export * from './errors.js';
