import { defineConfig } from 'vitest/config';

// The cluster tests start their own 3-node RabbitMQ cluster (once per file): `npm run test:rabbit-cluster`.
export default defineConfig({
  test: {
    include: ['test/rabbit-cluster*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
