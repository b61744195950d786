import { defineConfig } from 'vitest/config';

/** `npm run test:nemesis`: the randomized fault schedule (test/nemesis/); its own servers and pools, so outside `npm test`. */
export default defineConfig({
  test: {
    include: ['test/nemesis/**/*.test.ts'],
    fileParallelism: false,
    // A run takes about 25 s; one that fails waits out its bounded waits (about 3.5 min at most) and still cleans up.
    testTimeout: 300_000,
    hookTimeout: 60_000,
  },
});
