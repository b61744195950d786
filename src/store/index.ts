/**
 * store: the dedup store on Redis. Leases (the Redlock algorithm over one Redis or
 * a majority of independent masters, or one master per id on a Redis Cluster),
 * fencing tokens, compact completion records, every key name (keys.ts), the record
 * layout guard (layout.ts: the settings every replica of a scope shares), the Lua
 * scripts (lua/, one file each with its KEYS/ARGV/returns header), and the two atomic
 * modes' store side: Redis effects and the Postgres inbox.
 *
 * May import: common.
 */
export { DedupStore, connectRedis, connectCluster, encodeRecord, decodeRecord, fingerprint, type BeginResult, type Lease, type IdState } from './dedup-store.js';
export { openStore, storeModeOf } from './open-store.js';
export { keysFor, scopeOf, replicaClientName, type Keys } from './keys.js';
export { guardLayout, layoutOf, LayoutMismatchError, LAYOUT_FORMAT, type Layout } from './layout.js';
export { changeLayout, readLayouts, type LayoutChange } from './layout-change.js';
export { checkEffects, EFFECT_COMMANDS, type RedisEffect } from './effects.js';
export { requireFresh } from './fencing.js';
export { checkRedisVersions, MIN_REDIS_VERSION } from './redis-version.js';
export { migrate as migrateInbox, INBOX_TABLE } from './inbox.js';
export { OUTBOX_TABLE, outboxOf } from './outbox.js';
