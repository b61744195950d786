/**
 * A chain of two services on real RabbitMQ: pool A consumes, publishes one or two
 * follow-ups per message (ctx.publish) to the queue pool B consumes. Replicas of A
 * are SIGKILLed every few hundred ms, so some of A's handlers run twice and send
 * their follow-ups twice. Counted from B's handler ledger: every incoming id gives
 * exactly its follow-ups at B, each run once; none lost, none extra.
 */
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { followupId } from '../src/common/followup-ids.js';
import { OUTBOX_TABLE } from '../src/store/outbox.js';
import { outboxKey } from '../src/store/keys.js';
import { LEDGER_HANDLER, body, executions, publishRaw, readLedger, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { killReplicas, startSupervisor, stopSupervisor, type SupervisorProcess } from './helpers/supervisor.js';

const CHAIN = fileURLToPath(new URL('./fixtures/chain-handler.mjs', import.meta.url));
const PG_URL = process.env.DEDUP_TEST_PG_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/test';
const IDS = 600;
/** Slow enough handlers and small windows, so kills land between handlers' ends and their acks. */
const CHAOS_POOL = ['--replicas', '3', '--threads', '2', '--concurrency', '2', '--prefetch', '8', '--lock-ttl', '1s', '--max-attempts', '50'];
const KILL_EVERY_MS = 300;
/** Each run takes 30-50 s here; its waits alone may take 270 s on a slow machine. */
const CHAIN_TIMEOUT_MS = 300_000;

/** Incoming ids of A, and the follow-up ids B must run: one or two per incoming id. */
function plan(scope: string): { ids: string[]; followups: (id: string) => number; expected: string[] } {
  const ids = Array.from({ length: IDS }, (_, i) => `c-${i}`);
  const followups = (id: string): number => 1 + (Number(id.slice(2)) % 2);
  return { ids, followups, expected: ids.flatMap((id) => Array.from({ length: followups(id) }, (_, n) => followupId(scope, id, n))) };
}

describe('chains of services', () => {
  let a: TestEnv;
  let b: TestEnv;
  let supA: SupervisorProcess | undefined;
  let supB: SupervisorProcess | undefined;
  let db: pg.Pool | undefined;
  afterEach(async () => {
    await stopSupervisor(supA);
    await stopSupervisor(supB);
    supA = supB = undefined;
    await db?.end();
    db = undefined;
    await a.cleanup();
    await b.cleanup();
  });

  /** Start B on its queue, then A with `extra` flags under kills; resolves once B ran every expected id and both queues are empty. */
  async function runChain(extraA: string[], data: Record<string, unknown> = {}): Promise<{ expected: string[]; kills: number; ranTwiceAtA: number }> {
    const { ids, followups, expected } = plan(a.queue);
    supB = await startSupervisor({ queue: b.queue, prefix: b.prefix, handler: LEDGER_HANDLER, extra: ['--replicas', '1', '--threads', '2'] });
    await publishRaw(
      a.ch,
      a.queue,
      ids.map((id) => body(id, { ledger: a.ledger, next: b.queue, nextLedger: b.ledger, followups: followups(id), sleepMs: 200, ...data })),
    );
    supA = await startSupervisor({ queue: a.queue, prefix: a.prefix, handler: CHAIN, extra: [...CHAOS_POOL, ...extraA] });
    const chaos = killReplicas(supA, KILL_EVERY_MS);
    await waitFor(() => executions(b.ledger).size >= expected.length * 0.9, 120_000, 'most follow-ups run at B under chaos');
    const kills = chaos.stop();
    const empty = async (q: string) => (await a.ch.checkQueue(q)).messageCount === 0;
    await waitFor(async () => executions(b.ledger).size === expected.length && (await empty(a.queue)) && (await empty(b.queue)), 120_000, 'every follow-up run at B');
    const ranTwiceAtA = [...executions(a.ledger).values()].filter((n) => n > 1).length;
    return { expected, kills, ranTwiceAtA };
  }

  /** B's ledger: exactly the expected ids, each run once; nothing dead-lettered on either side. */
  async function expectExactlyTheFollowups(expected: string[]): Promise<void> {
    const atB = executions(b.ledger);
    expect([...atB.keys()].sort()).toEqual([...expected].sort());
    expect([...atB].filter(([, n]) => n !== 1)).toEqual([]);
    expect(readLedger(b.ledger).filter((l) => l.ev === 'start').length).toBe(expected.length);
    for (const q of [`${a.queue}.dlq`, `${b.queue}.dlq`]) expect((await a.ch.checkQueue(q)).messageCount).toBe(0);
  }

  it('plain mode: replicas of A killed every 300 ms, B runs each follow-up id exactly once', async () => {
    a = await testEnv('chain-a');
    b = await testEnv('chain-b');
    const { expected, kills, ranTwiceAtA } = await runChain([]);
    await expectExactlyTheFollowups(expected);
    expect(kills).toBeGreaterThanOrEqual(5);
    const statusB = await supB!.status();
    console.info(
      `chain: ${IDS} ids -> ${expected.length} follow-ups; ${kills} replicas of A killed; ${ranTwiceAtA} ids ran twice at A; B acked ${statusB.totals.duplicates.done + statusB.totals.duplicates['in-flight']} copies as duplicates`,
    );
  }, CHAIN_TIMEOUT_MS);

  it('Redis-atomic: A applies an effect per message, its follow-ups commit with it in the Redis outbox; every effect once, the outbox empty at the end', async () => {
    a = await testEnv('chain-ra');
    b = await testEnv('chain-rb');
    const counters = `${a.prefix}:n:`;
    const { expected, kills } = await runChain([], { counters });
    await expectExactlyTheFollowups(expected);
    const values = await a.redis.mget(plan(a.queue).ids.map((id) => `${counters}${id}`));
    expect(values.filter((v) => v !== '1')).toEqual([]);
    await waitFor(async () => (await a.redis.exists(outboxKey(a.prefix, a.queue))) === 0, 30_000, 'outbox empty');
    expect(kills).toBeGreaterThanOrEqual(5);
    const dispatched = supA!.logs.filter((l) => l.msg === 'outbox: follow-ups left unsent were published').reduce((n, l) => n + Number(l.sent), 0);
    console.info(`chain (Redis-atomic): ${IDS} ids -> ${expected.length} follow-ups, ${kills} replicas of A killed; every effect applied once; ${dispatched} follow-ups sent by the outbox dispatcher`);
  }, CHAIN_TIMEOUT_MS);

  it('inbox mode: A writes through ctx.db, follow-ups go through the outbox; every outbox row sent at the end', async () => {
    a = await testEnv('chain-ia');
    b = await testEnv('chain-ib');
    db = new pg.Pool({ connectionString: PG_URL });
    const table = `sink_${a.prefix.replace(/\W/g, '_')}`;
    await db.query(`CREATE TABLE ${table} (id text NOT NULL)`); // no unique key: a second commit would show
    try {
      const { expected, kills } = await runChain(['--inbox', PG_URL], { table });
      await expectExactlyTheFollowups(expected);
      const twice = await db.query(`SELECT id FROM ${table} GROUP BY id HAVING count(*) > 1`);
      expect(twice.rows).toEqual([]);
      expect(Number((await db.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n)).toBe(IDS);
      await waitFor(async () => Number((await db!.query(`SELECT count(*) AS n FROM ${OUTBOX_TABLE} WHERE queue = $1 AND sent_at IS NULL`, [a.queue])).rows[0].n) === 0, 30_000, 'outbox all sent');
      const rows = await db.query(`SELECT followup_id FROM ${OUTBOX_TABLE} WHERE queue = $1`, [a.queue]);
      expect(rows.rows.map((r: { followup_id: string }) => r.followup_id).sort()).toEqual([...expected].sort());
      expect(kills).toBeGreaterThanOrEqual(5);
      // id show lists an id's follow-ups from the outbox.
      let out = '';
      const spy = vi.spyOn(process.stdout, 'write').mockImplementation((t) => ((out += String(t)), true));
      try {
        expect(await main(['id', 'show', 'c-1', '--queue', a.queue, '--prefix', a.prefix, '--inbox', PG_URL, '--json'])).toBe(0);
      } finally {
        spy.mockRestore();
      }
      expect(JSON.parse(out).followups.rows).toEqual([0, 1].map((n) => ({ position: n, id: followupId(a.queue, 'c-1', n), sent: true })));
      const m = await supA!.metrics();
      const dispatched = supA!.logs.filter((l) => l.msg === 'outbox: follow-ups left unsent were published').reduce((n, l) => n + Number(l.sent), 0);
      console.info(`chain (inbox): ${IDS} ids -> ${expected.length} follow-ups, ${kills} replicas of A killed; A confirmed ${m.get('dedup_followups_published_total')} publishes, ${dispatched} by the outbox dispatcher`);
    } finally {
      await db.query(`DROP TABLE IF EXISTS ${table}`);
      await db.query(`DELETE FROM ${OUTBOX_TABLE} WHERE queue = $1`, [a.queue]);
      await db.query(`DELETE FROM dedup_inbox WHERE queue = $1`, [a.queue]);
    }
  }, CHAIN_TIMEOUT_MS);
});
