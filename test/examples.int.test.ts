/** Every file in examples/ runs as its header comment says, against the real services. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { decodeRecord } from '../src/index.js';
import { inProcessPool } from './helpers/in-process.js';
import { idState } from './helpers/records.js';
import { REDIS_URL, publishRaw, waitFor, type TestEnv } from './helpers/services.js';

const PG_URL = process.env.DEDUP_TEST_PG_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/test';
const example = (name: string) => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));
const send = (env: TestEnv, id: string, data: unknown) => publishRaw(env.ch, env.queue, [{ content: JSON.stringify({ message_id: id, data }) }]);

describe('examples', () => {
  const pool = inProcessPool();
  let env: TestEnv;

  const start = async (handler: string, extra: Record<string, unknown> = {}) =>
    pool.replica({ queue: env.queue, prefix: env.prefix, handler: example(handler), threads: 1, ...extra });

  it('producer.mjs publishes with confirms; handler.mjs runs each id once', async () => {
    env = await pool.env('ex-producer');
    const { stdout } = await promisify(execFile)(process.execPath, [example('producer.mjs'), env.queue]);
    expect(stdout.trim().split('\n')).toEqual([`published order-1 to ${env.queue}`, `published order-2 to ${env.queue}`, `published order-1 to ${env.queue}`]);
    const r = await start('handler.mjs');
    await waitFor(() => r.stats.completed + r.stats.duplicates.done + r.stats.duplicates['in-flight'] === 3, 20_000, 'three deliveries settled');
    expect(r.stats.completed).toBe(2);
  });

  it('handler.ts runs without a build step and its result is kept', async () => {
    env = await pool.env('ex-ts');
    const r = await start('handler.ts');
    await send(env, 'ts-1', 'Hello, World!');
    await waitFor(() => r.stats.completed === 1, 20_000, 'completed');
    const { record } = await idState(REDIS_URL, env.prefix, env.queue, 'ts-1');
    expect(decodeRecord(record!).result).toEqual({ length: 13 });
  });

  it('redis-atomic.mjs: the balance moves once however often the payment arrives', async () => {
    env = await pool.env('ex-atomic');
    const account = `${env.prefix}:alice`;
    const r = await start('redis-atomic.mjs');
    try {
      for (let i = 0; i < 3; i++) await send(env, `${env.prefix}-p1`, { account, amount: 10 });
      await waitFor(() => r.stats.completed + r.stats.duplicates.done + r.stats.duplicates['in-flight'] === 3, 20_000, 'three deliveries settled');
      expect(await env.redis.get(`balance:${account}`)).toBe('10');
      expect(await env.redis.hgetall(`payment:${env.prefix}-p1`)).toEqual({ account, amount: '10' });
    } finally {
      await env.redis.del(`balance:${account}`, `payment:${env.prefix}-p1`);
    }
  });

  it('inbox.mjs: the row and the inbox mark commit together, once', async () => {
    env = await pool.env('ex-inbox');
    const db = new pg.Pool({ connectionString: PG_URL });
    const id = `${env.prefix}-o1`;
    try {
      await db.query('CREATE TABLE IF NOT EXISTS payments (order_id text PRIMARY KEY, amount numeric, fence bigint)');
      const r = await start('inbox.mjs', { inboxUrl: PG_URL });
      await send(env, id, { amount: 25 });
      await send(env, id, { amount: 25 });
      await waitFor(() => r.stats.completed + r.stats.duplicates.done + r.stats.duplicates['in-flight'] + r.stats.duplicates.inbox === 2, 20_000, 'both settled');
      expect((await db.query('SELECT amount FROM payments WHERE order_id = $1', [id])).rows).toEqual([{ amount: '25' }]);
    } finally {
      await db.query('DELETE FROM payments WHERE order_id = $1', [id]).catch(() => {});
      await db.end();
    }
  });
});
