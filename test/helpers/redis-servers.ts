/** Extra redis-server processes on spare loopback ports (shared with the bench's chaos). */
export { freePort, startRedisServer, type RedisServer } from '../../bench/lib/services.js';
