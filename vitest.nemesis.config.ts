import { defineConfig } from 'vitest/config';

/** `npm run test:nemesis`: the randomized fault schedule (test/nemesis/); its own servers and pools, so outside `npm test`. */
export default defineConfig({
  test: {
    include: ['test/nemesis/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 150_000,
    hookTimeout: 60_000,
  },
});
