/** A test's queue, prefix and in-process replica, cleaned up after each test of the describe block that calls it. */
import { afterEach } from 'vitest';
import type { OptionsInput } from '../../src/common/options.js';
import { Replica } from '../../src/replica/replica.js';
import { AMQP_URL, REDIS_URL, testEnv, type TestEnv } from './services.js';

export function inProcessPool(): { env(tag: string): Promise<TestEnv>; replica(input: OptionsInput): Promise<Replica> } {
  let env: TestEnv | undefined;
  let replica: Replica | undefined;
  afterEach(async () => {
    await replica?.stop();
    replica = undefined;
    await env?.cleanup();
    env = undefined;
  });
  return {
    env: async (tag) => (env = await testEnv(tag)),
    replica: async (input) => (replica = await new Replica({ amqpUrl: AMQP_URL, redisUrls: [REDIS_URL], logLevel: 'silent', ...input }).start()),
  };
}
