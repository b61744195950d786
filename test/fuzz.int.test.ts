/**
 * Thousands of random bodies, headers and properties at a running pool: it never
 * crashes, and every message is accounted for (completed, duplicate, or dead-lettered).
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Options } from 'amqplib';
import { Replica } from '../src/index.js';
import { executions, publishRaw, testEnv, waitFor, type TestEnv } from './helpers/services.js';

const COUNT = 3000;
const HANDLER = fileURLToPath(new URL('./fixtures/count-handler.mjs', import.meta.url));

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with its seed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generator(rand: () => number) {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const str = (n: number) => Array.from({ length: Math.floor(rand() * n) }, () => String.fromCharCode(Math.floor(rand() * 0x2fff))).join('');
  // amqplib reads an object with a "!" key as a typed value ({'!': type, value}): not a key a random table may use.
  const key = (n: number) => {
    const k = str(n);
    return k === '!' ? 'bang' : k;
  };
  const bytes = (n: number) => Buffer.from(Array.from({ length: Math.floor(rand() * n) }, () => Math.floor(rand() * 256)));
  const value = (depth: number): unknown =>
    pick<() => unknown>([
      () => null,
      () => rand() < 0.5,
      () => Math.floor(rand() * 1e6) - 5e5,
      () => rand() * 1e9,
      () => str(20),
      () => (depth > 2 ? 'leaf' : Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1))),
      () => (depth > 2 ? 'leaf' : Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, () => [key(8), value(depth + 1)]))),
    ])();
  const ids = Array.from({ length: 400 }, (_, i) => `fz-${i}`);
  const id = (): unknown => pick<() => unknown>([() => pick(ids), () => pick(ids), () => pick(ids), () => Math.floor(rand() * 50), () => value(0), () => 'x'.repeat(600), () => `ctl\u0001${pick(ids)}`, () => ''])();
  const content = (): Buffer =>
    pick<() => Buffer>([
      () => bytes(64),
      () => Buffer.from(JSON.stringify(value(0)) ?? 'null'),
      () => Buffer.from(JSON.stringify({ message_id: id(), data: value(0) })),
      () => Buffer.from(JSON.stringify({ message_id: pick(ids), data: 'steady' })),
      () => Buffer.from(`{'message_id': '${pick(ids)}'}`),
      () => Buffer.from(str(40)),
      () => Buffer.alloc(5000 + Math.floor(rand() * 5000), 'a'),
    ])();
  const headers = (): Record<string, unknown> => {
    const h: Record<string, unknown> = {};
    for (let i = Math.floor(rand() * 4); i > 0; i--) h[str(6) || 'k'] = value(1);
    if (rand() < 0.3) h['x-message-id'] = id();
    if (rand() < 0.1) h['x-dedup-attempt'] = value(0); // a producer cannot forge attempts
    return h;
  };
  return (): { content: Buffer; props: Options.Publish } => {
    const props: Options.Publish = { headers: headers() };
    if (rand() < 0.3) props.messageId = String(pick([pick(ids), str(10), 'y'.repeat(255)]));
    if (rand() < 0.3) props.contentType = pick(['application/json', 'text/plain', 'application/octet-stream', str(5)]);
    return { content: content(), props };
  };
}

describe('fuzz', () => {
  let env: TestEnv;
  let replica: Replica | undefined;
  afterEach(async () => {
    await replica?.stop();
    await env.cleanup();
  });

  it(`${COUNT} random messages: no crash, every one completed, acked as a duplicate, or dead-lettered`, async () => {
    env = await testEnv('fuzz');
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1e9);
    console.info(`fuzz seed ${seed} (FUZZ_SEED=${seed} replays this run)`);
    const next = generator(prng(seed));
    process.env.DEDUP_TEST_LEDGER = env.ledger;
    replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: HANDLER, threads: 2, maxBytes: 4096, logLevel: 'silent' }).start();
    const messages = Array.from({ length: COUNT }, next);
    for (let i = 0; i < COUNT; i += 500) await publishRaw(env.ch, env.queue, messages.slice(i, i + 500));

    const s = replica.stats;
    const settled = () => s.completed + s.duplicates.done + s.duplicates['in-flight'] + Object.values(s.deadLettered).reduce((a, b) => a + b, 0);
    await waitFor(() => settled() === COUNT, 60_000, `all ${COUNT} accounted for (seed ${seed})`);

    expect(s.retried, `seed ${seed}`).toBe(0);
    expect(s.requeued, `seed ${seed}`).toBe(0);
    expect((await env.ch.checkQueue(env.queue)).messageCount).toBe(0);
    const dead = Object.values(s.deadLettered).reduce((a, b) => a + b, 0);
    expect((await env.ch.checkQueue(`${env.queue}.dlq`)).messageCount).toBe(dead);
    expect(Object.keys(s.deadLettered).every((r) => ['NOT_JSON', 'NO_ID', 'BAD_ID', 'TOO_LARGE', 'BAD_HEADER', 'ID_CONFLICT'].includes(r)), JSON.stringify(s.deadLettered)).toBe(true);
    // Every completion is one execution of a distinct id.
    const runs = executions(env.ledger);
    expect(runs.size).toBe(s.completed);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(replica.ready).toBe(true);
    console.info(`fuzz seed ${seed}: completed ${s.completed}, duplicates ${s.duplicates.done + s.duplicates['in-flight']}, dead-lettered ${JSON.stringify(s.deadLettered)}`);
  });
});
