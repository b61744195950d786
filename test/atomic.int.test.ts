/**
 * Closing the last window: the handler's effect and the completion record in one
 * atomic step. Replicas are SIGKILLed at random points of handlers that write
 * effects; every id's effect must be applied exactly once, counted in the sink.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { GetMessage } from 'amqplib';
import pg from 'pg';
import { HEADERS, Replica, StaleTokenError } from '../src/index.js';
import { requireFresh } from '../src/store/fencing.js';
import { INBOX_TABLE, inTransaction, migrate, startInboxCleanup } from '../src/store/inbox.js';
import { createLogger } from '../src/common/logger.js';
import { REDIS_URL, body, drain, publishRaw, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { killReplicas, startSupervisor, type SupervisorProcess } from './helpers/supervisor.js';
import { idState } from './helpers/records.js';

export const PG_URL = process.env.DEDUP_TEST_PG_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/test';
const EFFECTS = fileURLToPath(new URL('./fixtures/effects-handler.mjs', import.meta.url));
/** The x-dedup-error of each dead-lettered message, by the id in its body. */
const dlqError = (dead: GetMessage[]) => (id: string) =>
  String(dead.find((m) => (JSON.parse(m.content.toString()) as { message_id: string }).message_id === id)!.properties.headers![HEADERS.error]);
const PG_SINK = fileURLToPath(new URL('./fixtures/pg-sink-handler.mjs', import.meta.url));
const INBOX_REDIS = fileURLToPath(new URL('./fixtures/inbox-redis-handler.mjs', import.meta.url));
const IDS = 600;
/**
 * Each handler's run. With 12 at once 600 ids take about 8 s, long enough for
 * five kills even where a killed replica takes seconds to come back.
 */
const HANDLER_MS = 150;
/** Slow enough handlers and small windows, so kills land in the middle of many handlers. */
const CHAOS_POOL = ['--replicas', '3', '--threads', '2', '--concurrency', '2', '--prefetch', '8', '--lock-ttl', '1s', '--max-attempts', '50'];

describe('atomic modes', () => {
  let env: TestEnv;
  let sup: SupervisorProcess | undefined;
  let db: pg.Pool | undefined;
  let replica: Replica | undefined;
  afterEach(async () => {
    if (sup && sup.child.exitCode === null) {
      sup.child.kill('SIGTERM');
      await sup.exited;
    }
    await replica?.stop();
    await db?.end();
    sup = undefined;
    replica = undefined;
    db = undefined;
    await env.cleanup();
  });

  it('Redis-atomic: with replicas killed at random, every effect is applied exactly once', async () => {
    env = await testEnv('atomic-redis');
    const sink = `${env.prefix}:sink:`;
    const ids = Array.from({ length: IDS }, (_, i) => `a-${i}`);
    await publishRaw(env.ch, env.queue, [...ids, ...ids].map((id) => body(id, { sink, sleepMs: HANDLER_MS })));
    sup = await startSupervisor({ queue: env.queue, prefix: env.prefix, handler: EFFECTS, extra: CHAOS_POOL });
    const chaos = killReplicas(sup, 200);
    await waitFor(async () => (await env.redis.keys(`${sink}*`)).length >= IDS * 0.95, 90_000, 'most ids done under chaos');
    const kills = chaos.stop();
    await waitFor(async () => (await env.redis.keys(`${sink}*`)).length === IDS && (await env.ch.checkQueue(env.queue)).messageCount === 0, 90_000, 'every id applied');

    const values = await env.redis.mget(ids.map((id) => `${sink}${id}`));
    expect(values.filter((v) => v !== '1')).toEqual([]);
    expect(kills).toBeGreaterThanOrEqual(5);
    console.info(`Redis-atomic: ${IDS} ids, ${kills} replicas killed, every effect applied once`);
  });

  it('Postgres inbox: with replicas killed at random, every effect is applied exactly once', async () => {
    env = await testEnv('atomic-pg');
    db = new pg.Pool({ connectionString: PG_URL });
    const table = `sink_${env.prefix.replace(/\W/g, '_')}`;
    await db.query(`CREATE TABLE ${table} (id text NOT NULL, fence bigint NOT NULL)`); // no unique key: duplicates would show
    const ids = Array.from({ length: IDS }, (_, i) => `p-${i}`);
    await publishRaw(env.ch, env.queue, [...ids, ...ids].map((id) => body(id, { table, sleepMs: HANDLER_MS })));
    sup = await startSupervisor({ queue: env.queue, prefix: env.prefix, handler: PG_SINK, extra: [...CHAOS_POOL, '--inbox', PG_URL] });
    const count = async () => Number((await db!.query(`SELECT count(DISTINCT id) AS n FROM ${table}`)).rows[0].n);
    const chaos = killReplicas(sup, 200);
    await waitFor(async () => (await count()) >= IDS * 0.95, 90_000, 'most ids done under chaos');
    const kills = chaos.stop();
    await waitFor(async () => (await count()) === IDS && (await env.ch.checkQueue(env.queue)).messageCount === 0, 90_000, 'every id applied');

    const twice = await db.query(`SELECT id, count(*) AS n FROM ${table} GROUP BY id HAVING count(*) > 1`);
    expect(twice.rows).toEqual([]);
    const inbox = await db.query(`SELECT count(*) AS n FROM ${INBOX_TABLE} WHERE queue = $1`, [env.queue]);
    expect(Number(inbox.rows[0].n)).toBe(IDS);
    expect(kills).toBeGreaterThanOrEqual(5);
    const status = await sup.status();
    console.info(`Postgres inbox: ${IDS} ids, ${kills} replicas killed, every effect applied once; ${status.totals.duplicates.inbox} redeliveries found their inbox row`);
    await db.query(`DROP TABLE ${table}`);
    await db.query(`DELETE FROM ${INBOX_TABLE} WHERE queue = $1`, [env.queue]);
  });

  it('refuses effects it cannot apply safely: a forbidden command, a wrong-type key (nothing written)', async () => {
    env = await testEnv('bad-effect');
    await env.redis.hset(`${env.prefix}:a-hash`, 'f', '1');
    replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: EFFECTS, threads: 1, maxAttempts: 1, logLevel: 'silent' }).start();
    await publishRaw(env.ch, env.queue, [
      body('e-1', { effect: ['FLUSHALL', 'x'] }),
      body('e-2', { effect: ['INCRBY', `${env.prefix}:a-hash`, 1] }),
    ]);
    await waitFor(() => replica!.stats.deadLettered.BAD_EFFECT === 2, 20_000, 'both dead-lettered');
    const error = dlqError(await drain(env.ch, `${env.queue}.dlq`));
    expect(error('e-1')).toMatch(/command "FLUSHALL" is not one of/);
    expect(error('e-2')).toMatch(/INCRBY needs a string at .*a-hash, found a hash/);
    expect((await idState(REDIS_URL, env.prefix, env.queue, 'e-2')).record).toBeUndefined();
  });

  it('effects that would fail part-way are refused whole; one that fails anyway is dead-lettered once, saying what was applied', async () => {
    env = await testEnv('partial-effect');
    const k = (name: string) => `${env!.prefix}:${name}`;
    await env.redis.set(k('text'), 'abc');
    await env.redis.set(k('max'), '9223372036854775807');
    // Three attempts: an effect applied and then retried would show as 20 or 30.
    replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: EFFECTS, threads: 1, maxAttempts: 3, logLevel: 'silent' }).start();
    await publishRaw(env.ch, env.queue, [
      body('p-1', { effects: [['INCRBY', k('a1'), 10], ['HINCRBY', k('h1'), 'f', 1.5]] }), // refused by the replica
      body('p-2', { effects: [['INCRBY', k('a2'), 10], ['SET', k('s2'), 'v'], ['HSET', k('s2'), 'f', 'v']] }), // a type the effects before make
      body('p-3', { effects: [['INCRBY', k('a3'), 10], ['INCR', k('text')]] }), // a stored value that is not a number
      body('p-4', { effects: [['INCRBY', k('a4'), 10], ['INCR', k('max')]] }), // fails only when run: an overflow
    ]);
    await waitFor(() => replica!.stats.deadLettered.BAD_EFFECT === 4, 20_000, 'all four dead-lettered');
    const dead = await drain(env.ch, `${env.queue}.dlq`);
    const error = dlqError(dead);
    expect(error('p-1')).toMatch(/effect 2: HINCRBY takes a field and an integer/);
    expect(error('p-2')).toMatch(/effect 3: HSET needs a hash at .*:s2, found a string; nothing was written/);
    expect(error('p-3')).toMatch(/effect 2: INCR needs integer at .*:text, found abc; nothing was written/);
    expect(error('p-4')).toMatch(/effect 2: INCR failed: .*overflow.*; effects 1-1 were applied and stay/);
    expect(await env.redis.mget(k('a1'), k('a2'), k('s2'), k('a3'))).toEqual([null, null, null, null]);
    expect(await env.redis.get(k('a4'))).toBe('10'); // applied once, never again
    expect(await env.redis.get(k('max'))).toBe('9223372036854775807');
    expect(replica.stats.retried).toBe(0);
    for (const id of ['p-1', 'p-2', 'p-3', 'p-4']) expect((await idState(REDIS_URL, env.prefix, env.queue, id)).record).toBeUndefined();
  });

  it('inbox mode refuses ctx.redis: dead-lettered at once, its transaction rolled back, nothing written anywhere', async () => {
    env = await testEnv('inbox-redis');
    await migrate(PG_URL);
    db = new pg.Pool({ connectionString: PG_URL });
    const table = `sink_${env.prefix.replace(/\W/g, '_')}`;
    await db.query(`CREATE TABLE ${table} (id text PRIMARY KEY, fence bigint NOT NULL)`);
    try {
      const sink = `${env.prefix}:sink:`;
      replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: INBOX_REDIS, inboxUrl: PG_URL, threads: 1, maxAttempts: 5, logLevel: 'silent' }).start();
      await publishRaw(env.ch, env.queue, [body('ir-1', { table, sink }), body('ir-2', { table, sink, swallow: true })]);
      await waitFor(() => replica!.stats.deadLettered.BAD_EFFECT === 2, 20_000, 'both dead-lettered');
      const error = dlqError(await drain(env.ch, `${env.queue}.dlq`));
      for (const id of ['ir-1', 'ir-2']) expect(error(id)).toMatch(/^ctx\.redis cannot be used with --inbox/);
      expect(replica.stats.retried).toBe(0);
      expect((await db.query(`SELECT id FROM ${table}`)).rowCount).toBe(0);
      expect((await db.query(`SELECT 1 FROM ${INBOX_TABLE} WHERE queue = $1`, [env.queue])).rowCount).toBe(0);
      expect(await env.redis.exists(`${sink}ir-1`, `${sink}ir-2`)).toBe(0);
    } finally {
      await db.query(`DROP TABLE ${table}`);
    }
  });

  it('fencing: a sink keeps the highest token and refuses a stale writer', async () => {
    env = await testEnv('fence-sink');
    db = new pg.Pool({ connectionString: PG_URL });
    const table = `accounts_${env.prefix.replace(/\W/g, '_')}`;
    await db.query(`CREATE TABLE ${table} (id text PRIMARY KEY, balance int NOT NULL, fence bigint NOT NULL)`);
    const write = async (balance: number, token: number) =>
      requireFresh(
        await db!.query(
          `INSERT INTO ${table} (id, balance, fence) VALUES ('acct', $1, $2)
           ON CONFLICT (id) DO UPDATE SET balance = EXCLUDED.balance, fence = EXCLUDED.fence WHERE ${table}.fence < EXCLUDED.fence`,
          [balance, token],
        ),
        token,
        table,
      );
    await write(100, 5);
    await expect(write(50, 4)).rejects.toBeInstanceOf(StaleTokenError); // the writer whose lease was taken over
    await write(70, 6);
    expect((await db.query(`SELECT balance, fence FROM ${table}`)).rows).toEqual([{ balance: 70, fence: '6' }]);
    await db.query(`DROP TABLE ${table}`);
  });

  it('inbox rows expire with the dedup window (cleanup job)', async () => {
    env = await testEnv('inbox-ttl');
    await migrate(PG_URL);
    db = new pg.Pool({ connectionString: PG_URL });
    const entry = { queue: env.queue, id: 'ttl-1', fence: 1, dedupTtlMs: 300 };
    expect(await inTransaction(db, entry, async () => 'ran')).toEqual({ duplicate: false, value: 'ran' });
    expect(await inTransaction(db, entry, async () => 'ran again')).toEqual({ duplicate: true });
    const cleanup = startInboxCleanup(PG_URL, 200, createLogger('silent'));
    try {
      await waitFor(async () => (await db!.query(`SELECT 1 FROM ${INBOX_TABLE} WHERE queue = $1`, [env.queue])).rowCount === 0, 10_000, 'expired row deleted');
    } finally {
      await cleanup.stop();
    }
  });
});
