import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assertTopology, queueNames } from '../src/amqp/broker.js';
import { describeDeadLetter, listDeadLetters, replayProps } from '../src/amqp/dead-letters.js';
import { spawnCli } from './helpers/processes.js';
import { inProcessPool } from './helpers/in-process.js';
import { body, drain, publishRaw, queueDepth, readJsonLines, waitFor } from './helpers/services.js';

const FIXABLE = new URL('./fixtures/fixable-handler.mjs', import.meta.url).pathname;
const BIN = new URL('../bin/dedup-pool.js', import.meta.url).pathname;

/** Run the CLI on a pseudo-terminal (util-linux `script`), typing `answer`. */
function onTerminal(answer: string, ...args: string[]): string {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
  return execFileSync('script', ['-qec', command, '/dev/null'], { input: `${answer}\n`, encoding: 'utf8' });
}

/** Run the CLI, collecting stdout and stderr. */
async function cli(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const p = spawnCli(args);
  let out = '';
  p.child.stdout!.removeAllListeners('data');
  p.child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  p.child.stdin!.end();
  const code = await p.exited;
  return { code, out, err: p.stderr.join('') };
}

interface Run { id: string; attempt: number; ok: boolean }
const runs = (ledger: string): Run[] => readJsonLines<Run>(ledger);

describe('dlq tools', () => {
  const pool = inProcessPool();

  it('list counts by reason without consuming or reordering; replay resets attempts and keeps ids; purge deletes one reason', async () => {
    const env = await pool.env('dlq');
    const bug = `${env.ledger}.bug`;
    writeFileSync(bug, 'unfixed');
    writeFileSync(env.ledger, '');
    const replica = await pool.replica({ queue: env.queue, prefix: env.prefix, handler: FIXABLE, threads: 1, maxAttempts: 2, retryDelayMs: 10 });
    const failing = ['f-0', 'f-1', 'f-2'];
    await publishRaw(env.ch, env.queue, [
      ...failing.map((id) => body(id, { ledger: env.ledger, bug })),
      { content: "{'message_id': 'py-1'}" },
      { content: 'not json either' },
      { content: JSON.stringify({ data: 'no id' }) },
    ]);
    await waitFor(async () => (await queueDepth(env.ch, `${env.queue}.dlq`)) === 6, 30_000, '6 dead letters');

    const text = await cli('dlq', 'list', '--queue', env.queue);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/\.dlq: 6 message\(s\)\n {2}HANDLER_FAILED +3\n {2}NOT_JSON +2\n {2}NO_ID +1\n/);
    expect(text.out).toMatch(/f-0 +HANDLER_FAILED +\d{4}-\d\d-\d\dT[\d:.]+Z +2 +bug still there \(attempt 2\)/);

    const json = await cli('dlq', 'list', '--queue', env.queue, '--reason', 'HANDLER_FAILED', '--limit', '2', '--json');
    const listing = JSON.parse(json.out);
    expect(listing).toMatchObject({ total: 6, matched: 3, byReason: { HANDLER_FAILED: 3, NOT_JSON: 2, NO_ID: 1 } });
    expect(listing.messages).toEqual([
      { id: 'f-0', reason: 'HANDLER_FAILED', detail: 'bug still there (attempt 2)', when: expect.stringMatching(/Z$/), attempts: 2 },
      { id: 'f-1', reason: 'HANDLER_FAILED', detail: 'bug still there (attempt 2)', when: expect.stringMatching(/Z$/), attempts: 2 },
    ]);
    // Listing took nothing away and changed no order.
    const again = await listDeadLetters({ queue: env.queue }, {});
    expect(again.total).toBe(6);
    expect(again.messages.map((m) => `${m.reason}:${m.id}`)).toEqual((await listDeadLetters({ queue: env.queue }, {})).messages.map((m) => `${m.reason}:${m.id}`));
    expect(again.messages.filter((m) => m.reason === 'HANDLER_FAILED').map((m) => m.id).sort()).toEqual(failing);

    // A reason that matches nothing says so and lists the reasons present.
    const none = await cli('dlq', 'replay', '--queue', env.queue, '--reason', 'HANDLER_TIMEOUT');
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/0 messages matched --reason HANDLER_TIMEOUT in .*\.dlq; reasons present: HANDLER_FAILED \(3\), NOT_JSON \(2\), NO_ID \(1\)/);

    const unknownId = await cli('dlq', 'replay', '--queue', env.queue, '--id', 'f-9');
    expect(unknownId.code).toBe(2);
    expect(unknownId.err).toMatch(/no message with id f-9 in .*\.dlq \(6 message\(s\) there\)/);

    // Replayed with the bug still there: full retries again (attempts 1 and 2), then back in the DLQ.
    const order = again.messages.map((m) => `${m.reason}:${m.id}`);
    const first = await cli('dlq', 'replay', '--queue', env.queue, '--id', 'f-0');
    expect(first.out).toMatch(/replayed 1 message\(s\) to .*; 5 left in/);
    const f0 = (): number[] => runs(env.ledger).filter((r) => r.id === 'f-0').map((r) => r.attempt);
    await waitFor(() => f0().length === 4, 20_000, 'f-0 retried twice more').catch((err: Error) => {
      throw new Error(`${err.message}: f-0 ran at attempts ${JSON.stringify(f0())}; replica counters ${JSON.stringify({ ...replica.stats, handler: undefined, handlerToAck: undefined })}`);
    });
    expect(f0()).toEqual([1, 2, 1, 2]);
    await waitFor(async () => (await queueDepth(env.ch, `${env.queue}.dlq`)) === 6, 20_000, 'f-0 dead-lettered again');
    // The others kept their order; f-0 is at the end now.
    const after = (await listDeadLetters({ queue: env.queue }, {})).messages.map((m) => `${m.reason}:${m.id}`);
    expect(after).toEqual([...order.filter((x) => x !== 'HANDLER_FAILED:f-0'), 'HANDLER_FAILED:f-0']);

    // The bug fixed: a replay of the reason runs each once, under its own id.
    rmSync(bug);
    const fixed = await cli('dlq', 'replay', '--queue', env.queue, '--reason', 'HANDLER_FAILED');
    expect(fixed.out).toMatch(/replayed 3 message\(s\)/);
    await waitFor(() => runs(env.ledger).filter((r) => r.ok).length === 3, 20_000, 'replayed ids completed');
    expect(runs(env.ledger).filter((r) => r.ok).map((r) => `${r.id}@${r.attempt}`).sort()).toEqual(['f-0@1', 'f-1@1', 'f-2@1']);
    await waitFor(() => replica.stats.completed === 3, 10_000, 'completions counted');

    // On a terminal, purge asks first: "n" deletes nothing.
    const declined = onTerminal('n', 'dlq', 'purge', '--queue', env.queue, '--reason', 'NOT_JSON');
    expect(declined).toMatch(/delete 2 message\(s\) with reason NOT_JSON from .*\.dlq\? \[y\/N\]/);
    expect(declined).toMatch(/purged 0 message\(s\)/);
    expect(await queueDepth(env.ch, `${env.queue}.dlq`)).toBe(3);

    // Purge one reason; input is not a terminal, so nothing is asked.
    const purge = await cli('dlq', 'purge', '--queue', env.queue, '--reason', 'NOT_JSON');
    expect(purge.code).toBe(0);
    expect(purge.out).toMatch(/purged 2 message\(s\) from .*\.dlq; 1 left/);
    const left = await drain(env.ch, `${env.queue}.dlq`);
    expect(left.map((m) => m.properties.headers?.['x-dedup-reason'])).toEqual(['NO_ID']);
  });

  it('refuses an unknown queue, a purge without a reason, and a dead-letter queue it did not write', async () => {
    const env = await pool.env('dlq-bad');
    const missing = await cli('dlq', 'list', '--queue', `${env.queue}-nope`);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/queue ".*-nope" does not exist on the broker/);

    const noDlq = await cli('dlq', 'list', '--queue', env.queue);
    expect(noDlq.code).toBe(2);
    expect(noDlq.err).toMatch(/has no dead-letter queue ".*\.dlq"/);

    const noReason = await cli('dlq', 'purge', '--queue', env.queue);
    expect(noReason.code).toBe(2);
    expect(noReason.err).toMatch(/dlq purge needs --reason/);

    await env.ch.assertQueue(`${env.queue}.dlq`, { durable: true });
    await publishRaw(env.ch, `${env.queue}.dlq`, [{ content: 'someone else wrote this' }]);
    const foreign = await cli('dlq', 'purge', '--queue', env.queue, '--reason', 'NOT_JSON', '--yes');
    expect(foreign.code).toBe(2);
    expect(foreign.err).toMatch(/holds 1 message\(s\) dedup-pool did not write .*nothing was changed/);
    expect(await queueDepth(env.ch, `${env.queue}.dlq`)).toBe(1);
  });

  it('a quorum dead-letter queue with a delivery limit: listing again and again drops nothing and keeps the order', async () => {
    const env = await pool.env('dlq-quorum');
    const dlq = `${env.queue}.dlq`;
    // RabbitMQ 4 gives quorum queues a delivery limit by default; a limit of 1 shows what returns would cost.
    await env.ch.assertQueue(dlq, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 1 } });
    const ids = ['q-0', 'q-1', 'q-2', 'q-3'];
    await publishRaw(env.ch, dlq, ids.map((id, i) => ({
      content: `{"message_id":"${id}"}`,
      props: { messageId: id, headers: { 'x-dedup-reason': i % 2 ? 'NOT_JSON' : 'HANDLER_FAILED', 'x-dedup-error': 'boom', 'x-dedup-id': id, 'x-dedup-at': Date.now() } },
    })));
    for (let i = 0; i < 4; i++) {
      const listing = await listDeadLetters({ queue: env.queue }, {});
      expect(listing.messages.map((m) => m.id)).toEqual(ids);
    }
    const purged = await cli('dlq', 'purge', '--queue', env.queue, '--reason', 'NOT_JSON');
    expect(purged.out).toMatch(/purged 2 message\(s\) from .*; 2 left/);
    const left = await drain(env.ch, dlq);
    expect(left.map((m) => m.properties.messageId)).toEqual(['q-0', 'q-2']);
    expect(left.every((m) => m.properties.headers?.['x-dedup-reason'] === 'HANDLER_FAILED')).toBe(true);
  });

  it('a replayed copy is the original message: same id, body properties, no trip headers', () => {
    const props = {
      messageId: 'm-1',
      contentType: 'application/json',
      correlationId: 'c',
      timestamp: 1700000000,
      headers: { 'x-dedup-reason': 'HANDLER_FAILED', 'x-dedup-attempt': 2, 'x-dedup-attempts': 2, 'x-dedup-at': 1, 'x-death': [], 'x-first-death-queue': 'q', tenant: 'acme' },
    };
    expect(replayProps({ properties: props } as never)).toMatchObject({ persistent: true, messageId: 'm-1', contentType: 'application/json', correlationId: 'c', timestamp: 1700000000, headers: { tenant: 'acme' } });
    expect(describeDeadLetter({ properties: props } as never)).toEqual({ id: 'm-1', reason: 'HANDLER_FAILED', detail: '', when: '1970-01-01T00:00:00.001Z', attempts: 2 });
  });

  it('messages RabbitMQ dead-lettered itself (a quorum queue past its delivery limit) are listed under its reason, not refused', async () => {
    const env = await pool.env('dlq-broker');
    await env.ch.deleteQueue(env.queue);
    await assertTopology(env.amqp, queueNames(env.queue), { queueType: 'quorum', deliveryLimit: 1 });
    await publishRaw(env.ch, env.queue, [{ ...body('limit-1', { ledger: env.ledger }), props: { messageId: 'limit-1' } }]);
    const ch = await env.amqp.createChannel();
    // Return it until the broker dead-letters it (past the limit it is gone from the queue).
    await waitFor(
      async () => {
        const m = await ch.get(env.queue);
        if (m) ch.nack(m, false, true);
        return (await queueDepth(env.ch, `${env.queue}.dlq`)) === 1;
      },
      20_000,
      'the broker dead-lettered it',
    );
    await ch.close();
    const listing = await listDeadLetters({ queue: env.queue }, {});
    expect(listing.byReason).toEqual({ delivery_limit: 1 });
    expect(listing.messages).toMatchObject([{ id: 'limit-1', reason: 'delivery_limit', detail: `dead-lettered by RabbitMQ from ${env.queue}` }]);
  });
});
