/**
 * store: the dedup store on Redis. Leases (the Redlock algorithm over one Redis or
 * a majority of independent masters, or one master per id on a Redis Cluster),
 * fencing tokens, compact completion records, every key name (keys.ts), the Lua
 * scripts (lua/, one file each with its KEYS/ARGV/returns header), and the two atomic
 * modes' store side: Redis effects and the Postgres inbox.
 *
 * May import: common.
 */
export { DedupStore, openStore, connectRedis, connectCluster, encodeRecord, decodeRecord, fingerprint, type BeginResult, type Lease, type IdState } from './dedup-store.js';
export { keysFor, scopeOf, type Keys } from './keys.js';
export { checkEffects, EFFECT_COMMANDS, type RedisEffect } from './effects.js';
export { requireFresh } from './fencing.js';
export { checkRedisVersions, MIN_REDIS_VERSION } from './redis-version.js';
export { migrate as migrateInbox, INBOX_TABLE } from './inbox.js';
