/**
 * The consumer's pause and resume against a real broker: whatever the overlap,
 * a channel has at most one consumer, and none once pause() resolves.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { queueNames } from '../src/amqp/broker.js';
import { Consumer } from '../src/amqp/consumer.js';
import { AMQP_URL, testEnv, type TestEnv } from './helpers/services.js';

describe('consumer pause and resume', () => {
  let env: TestEnv;
  let consumer: Consumer | undefined;
  afterEach(async () => {
    await consumer?.close();
    consumer = undefined;
    await env.cleanup();
  });

  /** A started consumer on the test queue; deliveries are left unacked. */
  async function started(tag: string): Promise<Consumer> {
    env = await testEnv(tag);
    consumer = new Consumer({ amqpUrls: [AMQP_URL], names: queueNames(env.queue), topology: { queueType: 'classic' }, prefetch: 10 }, pino({ level: 'silent' }), () => {});
    await consumer.start(new AbortController().signal);
    return consumer;
  }
  const consumers = async (): Promise<number> => (await env.ch.checkQueue(env.queue)).consumerCount;

  it('two overlapping resumes subscribe once', async () => {
    const c = await started('resume-twice');
    expect(await consumers()).toBe(1);
    await c.pause();
    expect(await consumers()).toBe(0);
    await Promise.all([c.resume(), c.resume()]);
    expect(c.consuming).toBe(true);
    expect(await consumers()).toBe(1);
    await c.pause();
    expect(await consumers()).toBe(0);
  });

  it('a pause while a resume is subscribing leaves no consumer; the next resume consumes again', async () => {
    const c = await started('pause-overtakes');
    await c.pause();
    const resuming = c.resume();
    await c.pause();
    await resuming;
    expect(c.consuming).toBe(false);
    expect(await consumers()).toBe(0);

    // Resume, pause and resume again, all overlapping: the last call wins, with one consumer.
    const again = c.resume();
    const paused = c.pause();
    const last = c.resume();
    await Promise.all([again, paused, last]);
    expect(c.consuming).toBe(true);
    expect(await consumers()).toBe(1);
  });
});
