import { defineConfig } from 'vitest/config';

/** `npm run test:redis-cluster`: the Redis Cluster tests start their own 6-node cluster; slow, so outside `npm test`. */
export default defineConfig({
  test: {
    include: ['test/redis-cluster.int.test.ts', 'test/redis-cluster-reshard.int.test.ts'],
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 60_000,
  },
});
