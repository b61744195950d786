/** A throwaway Redis Cluster on loopback (shared with the bench's cluster scenarios). */
export { startRedisCluster, type ClusterNode, type RedisClusterHarness } from '../../bench/lib/redis-cluster.js';
