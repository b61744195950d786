import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The cluster tests have their own scripts (npm run test:rabbit-cluster, npm run test:redis-cluster; .ci/run runs both),
    // and so does the fault schedule (npm run test:nemesis).
    exclude: [...configDefaults.exclude, 'test/rabbit-cluster*.test.ts', 'test/redis-cluster*.test.ts', 'test/nemesis/**'],
    // Integration files share one 2-core machine with RabbitMQ and Redis: run them one at a time.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
