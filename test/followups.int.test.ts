/**
 * ctx.publish on a real broker: follow-ups arrive with their derived ids and the
 * default body format, a rerun sends byte-identical copies, and every kind of
 * follow-up the broker will not take (unroutable, a missing exchange, refused,
 * too large) keeps the incoming message from being acked: it is retried, then
 * dead-lettered with a reason naming the follow-up.
 */
import { fileURLToPath } from 'node:url';
import type { GetMessage } from 'amqplib';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { HEADERS, Replica } from '../src/index.js';
import { followupId } from '../src/common/followup-ids.js';
import { OUTBOX_TABLE } from '../src/store/outbox.js';
import { outboxKey } from '../src/store/keys.js';
import { createMetrics } from '../src/supervisor/metrics.js';
import { replicaAdminSource } from '../src/supervisor/replica-status.js';
import { body, drain, executions, publishRaw, testEnv, waitFor, type TestEnv } from './helpers/services.js';

const CHAIN = fileURLToPath(new URL('./fixtures/chain-handler.mjs', import.meta.url));
const PG_URL = process.env.DEDUP_TEST_PG_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/test';
const ATOMIC_PUBLISH = fileURLToPath(new URL('./fixtures/atomic-publish-handler.mjs', import.meta.url));

describe('follow-up messages (ctx.publish)', () => {
  let env: TestEnv;
  let replica: Replica | undefined;
  const extraQueues: string[] = [];
  afterEach(async () => {
    await replica?.stop();
    replica = undefined;
    for (const q of extraQueues.splice(0)) await env.ch.deleteQueue(q).catch(() => {});
    await env.ch.deleteExchange(`${env.queue}.x`).catch(() => {});
    await env.cleanup();
  });

  const start = (extra: Record<string, unknown> = {}) =>
    new Replica({ queue: env.queue, prefix: env.prefix, handler: CHAIN, threads: 1, retryDelayMs: '50ms', logLevel: 'silent', ...extra }).start();
  const nextQueue = async (args: Record<string, unknown> = {}) => {
    const q = `${env.queue}.next`;
    extraQueues.push(q);
    await env.ch.assertQueue(q, { durable: true, arguments: args });
    return q;
  };
  /** dedup_outbox_pending{outbox} as the replica's /metrics shows it (undefined: no sample yet). */
  const pendingGauge = async (outbox: 'postgres' | 'redis'): Promise<number | undefined> => {
    const text = await createMetrics(replicaAdminSource(replica!).status, 'dedup_replica_').metrics();
    const m = new RegExp(`^dedup_outbox_pending\\{outbox="${outbox}",queue="[^"]+"\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  /** Dead-lettered messages by their incoming id, with reason, error and attempts. */
  const deadLetters = async () =>
    new Map(
      (await drain(env.ch, `${env.queue}.dlq`)).map((m: GetMessage) => {
        const h = m.properties.headers!;
        return [String(h[HEADERS.id]), { reason: String(h[HEADERS.reason]), error: String(h[HEADERS.error]), attempts: Number(h[HEADERS.attempts]) }];
      }),
    );

  it('sends each follow-up with its derived id, the default body format and the trace context; a rerun sends the same bytes', async () => {
    env = await testEnv('fu-ok');
    const next = await nextQueue();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await publishRaw(env.ch, env.queue, [
      { ...body('in-1', { ledger: env.ledger, next, followups: 2, nextLedger: 'L' }), props: { contentType: 'application/json', headers: { traceparent } } },
      body('in-raw', { ledger: env.ledger, next, raw: true }),
    ]);
    replica = await start();
    await waitFor(() => replica!.stats.completed === 2, 20_000, 'both completed');
    const got = await drain(env.ch, next);
    expect(got).toHaveLength(3);
    const byId = new Map(got.map((m) => [m.properties.messageId as string, m]));
    const [a, b] = [0, 1].map((n) => byId.get(followupId(env.queue, 'in-1', n))!);
    expect(a.content.toString()).toBe(JSON.stringify({ message_id: followupId(env.queue, 'in-1', 0), data: { ledger: 'L', from: 'in-1', n: 0 } }));
    expect(JSON.parse(b.content.toString()).data.n).toBe(1);
    expect(a.properties).toMatchObject({ contentType: 'application/json', deliveryMode: 2 });
    expect(a.properties.headers).toMatchObject({ 'x-message-id': a.properties.messageId, 'x-dedup-followup-of': 'in-1', traceparent });
    const raw = byId.get(followupId(env.queue, 'in-raw', 0))!;
    expect(raw.properties.contentType).toBe('application/x-test');
    expect(JSON.parse(raw.content.toString())).toEqual({ from: 'in-raw', n: 0 });
    expect(replica.stats.followupsPublished).toBe(3);

    // The same id again, after its record is forgotten: the rerun's follow-ups are byte-identical.
    await replica.stop();
    await env.redis.del(...(await env.redis.keys(`${env.prefix}:*`)));
    await publishRaw(env.ch, env.queue, [body('in-1', { ledger: env.ledger, next, followups: 2, nextLedger: 'L' })]);
    replica = await start();
    await waitFor(() => replica!.stats.completed === 1, 20_000, 'rerun completed');
    const again = await drain(env.ch, next);
    expect(again.map((m) => m.content.toString()).sort()).toEqual([a, b].map((m) => m.content.toString()).sort());
    expect(executions(env.ledger).get('in-1')).toBe(2);
  });

  it('an unroutable follow-up: retried, then dead-lettered naming it; nothing acked before', async () => {
    env = await testEnv('fu-unroutable');
    const next = await nextQueue();
    await publishRaw(env.ch, env.queue, [
      body('u-1', { ledger: env.ledger, next: `${env.queue}.missing` }),
      // the second of two follow-ups has no queue: the first goes out on every attempt, under one id
      body('u-2', { ledger: env.ledger, exchange: '', routingKey: next, thenTo: `${env.queue}.missing` }),
      body('x-1', { ledger: env.ledger, exchange: `${env.queue}.x`, routingKey: 'k' }),
    ]);
    replica = await start({ maxAttempts: 3 });
    await waitFor(() => (replica!.stats.deadLettered.FOLLOWUP_UNROUTABLE ?? 0) === 3, 30_000, 'dead-lettered');
    const dead = await deadLetters();
    expect(dead.get('u-1')).toMatchObject({ reason: 'FOLLOWUP_UNROUTABLE', attempts: 3 });
    expect(dead.get('u-1')!.error).toContain(`follow-up 1 of 1 (id ${followupId(env.queue, 'u-1', 0)}, to queue '${env.queue}.missing') was not confirmed: no queue took the message`);
    expect(dead.get('u-2')!.error).toContain(`follow-up 2 of 2 (id ${followupId(env.queue, 'u-2', 1)}, to queue '${env.queue}.missing')`);
    const copies = await drain(env.ch, next);
    expect(copies).toHaveLength(3);
    expect(new Set(copies.map((m) => m.properties.messageId))).toEqual(new Set([followupId(env.queue, 'u-2', 0)]));
    expect(new Set(copies.map((m) => m.content.toString())).size).toBe(1);
    expect(dead.get('x-1')!.error).toContain(`to exchange '${env.queue}.x' routing key 'k') was not confirmed: exchange '${env.queue}.x' does not exist`);
    // Each attempt ran the handler; none was acked as completed.
    expect(executions(env.ledger).get('u-1')).toBe(3);
    expect(replica.stats.completed).toBe(0);
    expect(replica.stats.reconnects).toBe(0); // the missing exchange closed only the follow-ups' channel
    expect(await env.ch.checkQueue(env.queue)).toMatchObject({ messageCount: 0 });
  });

  it('a follow-up the broker refuses (a full queue that rejects publishes): retried, then dead-lettered as FOLLOWUP_REFUSED', async () => {
    env = await testEnv('fu-refused');
    const next = await nextQueue({ 'x-max-length': 0, 'x-overflow': 'reject-publish' });
    await publishRaw(env.ch, env.queue, [body('r-1', { ledger: env.ledger, next })]);
    replica = await start({ maxAttempts: 2, threads: 0 }); // the handler on the main thread: the same path
    await waitFor(() => replica!.stats.deadLettered.FOLLOWUP_REFUSED === 1, 30_000, 'dead-lettered');
    const dead = await deadLetters();
    expect(dead.get('r-1')!.error).toMatch(new RegExp(`follow-up 1 of 1 \\(id [0-9a-f-]{36}, to queue '${next}'\\) was not confirmed: broker refused`));
    expect(executions(env.ledger).get('r-1')).toBe(2);
    expect(replica.stats.completed).toBe(0);
  });

  it('a follow-up over --max-bytes: dead-lettered at once as BAD_FOLLOWUP', async () => {
    env = await testEnv('fu-bad');
    const next = await nextQueue();
    await publishRaw(env.ch, env.queue, [body('big-1', { ledger: env.ledger, next, bigBytes: 5000 })]);
    replica = await start({ maxAttempts: 5, maxBytes: '4kb' });
    await waitFor(() => replica!.stats.deadLettered.BAD_FOLLOWUP === 1, 20_000, 'dead-lettered');
    const dead = await deadLetters();
    expect(dead.get('big-1')).toMatchObject({ reason: 'BAD_FOLLOWUP', attempts: 1 });
    expect(dead.get('big-1')!.error).toMatch(/follow-up 1 \(ctx.publish call 1\): body is \d+ bytes, over --max-bytes 4096 \(to queue '.*\.next'\)/);
    expect(await env.ch.checkQueue(next)).toMatchObject({ messageCount: 0 });
  });

  it('Redis-atomic: follow-ups commit with the effects in the outbox hash, go out after the script; one not taken then is sent by the dispatcher', async () => {
    env = await testEnv('fu-atomic');
    const next = `${env.queue}.next`;
    extraQueues.push(next);
    const counter = `${env.prefix}:counter`;
    const outbox = outboxKey(env.prefix, env.queue);
    replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: ATOMIC_PUBLISH, threads: 1, logLevel: 'silent' }).start();
    // No queue yet: the effect and the record commit, the follow-up waits in the outbox.
    await publishRaw(env.ch, env.queue, [body('a-1', { counter, next })]);
    await waitFor(() => replica!.stats.completed === 1, 20_000, 'completed');
    expect(await env.redis.get(counter)).toBe('1');
    expect(await env.redis.hkeys(outbox)).toEqual(['a-1\u00000']);
    await waitFor(async () => (await pendingGauge('redis')) === 1, 20_000, 'gauge counts the entry');
    await env.ch.assertQueue(next, { durable: true });
    await waitFor(async () => (await env.redis.exists(outbox)) === 0, 30_000, 'dispatcher sent it');
    await waitFor(async () => (await pendingGauge('redis')) === 0, 20_000, 'gauge back to 0');
    expect(await pendingGauge('postgres')).toBeUndefined(); // no inbox, no Postgres outbox
    // With the queue there, the next one goes out right after its script.
    await publishRaw(env.ch, env.queue, [body('a-2', { counter, next })]);
    await waitFor(() => replica!.stats.completed === 2, 20_000, 'completed');
    const got = await drain(env.ch, next);
    expect(got.map((m) => m.properties.messageId).sort()).toEqual([followupId(env.queue, 'a-1', 0), followupId(env.queue, 'a-2', 0)].sort());
    expect(JSON.parse(got[0]!.content.toString()).data.from).toMatch(/^a-[12]$/);
    expect(await env.redis.get(counter)).toBe('2');
    expect(await env.redis.exists(outbox)).toBe(0);
    expect(replica.stats.followupsPublished).toBe(2);
  });

  it('inbox mode: a follow-up the broker does not take after the commit stays in the outbox; the dispatcher sends it once it can', async () => {
    env = await testEnv('fu-outbox');
    const next = `${env.queue}.next`;
    extraQueues.push(next);
    const db = new pg.Pool({ connectionString: PG_URL });
    const unsent = async () => (await db.query(`SELECT followup_id FROM ${OUTBOX_TABLE} WHERE queue = $1 AND sent_at IS NULL`, [env.queue])).rows.map((r: { followup_id: string }) => r.followup_id);
    try {
      replica = await start({ inboxUrl: PG_URL });
      await publishRaw(env.ch, env.queue, [body('o-1', { ledger: env.ledger, next, followups: 2 })]);
      // Committed with its follow-ups: acked although its queue does not exist yet.
      await waitFor(() => replica!.stats.completed === 1, 20_000, 'completed');
      expect(await unsent()).toEqual([0, 1].map((n) => followupId(env.queue, 'o-1', n)));
      expect(replica.stats.deadLettered).toEqual({});
      await waitFor(async () => (await pendingGauge('postgres')) === 2, 20_000, 'gauge counts the unsent rows');
      await env.ch.assertQueue(next, { durable: true });
      await waitFor(async () => (await unsent()).length === 0, 30_000, 'dispatcher sent them');
      await waitFor(async () => (await pendingGauge('postgres')) === 0, 20_000, 'gauge back to 0');
      const got = await drain(env.ch, next);
      expect(got.map((m) => m.properties.messageId).sort()).toEqual([0, 1].map((n) => followupId(env.queue, 'o-1', n)).sort());
      expect(executions(env.ledger).get('o-1')).toBe(1);
    } finally {
      await db.query(`DELETE FROM ${OUTBOX_TABLE} WHERE queue = $1`, [env.queue]);
      await db.query('DELETE FROM dedup_inbox WHERE queue = $1', [env.queue]);
      await db.end();
    }
  });
});
