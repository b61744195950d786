/** Which id a message runs under when its body and its message-id property disagree. */
import { afterEach, describe, expect, it } from 'vitest';
import { inProcessPool } from './helpers/in-process.js';
import { LEDGER_HANDLER, body, executions, publishRaw, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { startSupervisor, stopSupervisor, type SupervisorProcess } from './helpers/supervisor.js';

/** The same body twice, each copy with a fresh message-id property, as many clients publish. */
const twice = (id: string, ledger: string) => [
  { ...body(id, { ledger }), props: { contentType: 'application/json', messageId: `${id}-uuid-1` } },
  { ...body(id, { ledger }), props: { contentType: 'application/json', messageId: `${id}-uuid-2` } },
];

describe('id sources that disagree', () => {
  let env: TestEnv | undefined;
  let sup: SupervisorProcess | undefined;
  afterEach(async () => {
    await stopSupervisor(sup);
    sup = undefined;
    await env?.cleanup();
    env = undefined;
  });

  it('by default the body id wins: the same body sent twice with different messageIds runs once, warned once and counted', async () => {
    env = await testEnv('idsrc');
    sup = await startSupervisor({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--replicas', '1', '--threads', '1'] });
    await publishRaw(env.ch, env.queue, twice('order-1', env.ledger));
    await waitFor(async () => (await sup!.metrics()).get('dedup_duplicates_total{reason="done"}')! + (await sup!.metrics()).get('dedup_duplicates_total{reason="in-flight"}')! === 1, 20_000, 'one duplicate');
    expect(executions(env.ledger)).toEqual(new Map([['order-1', 1]]));
    const m = await sup.metrics();
    expect(m.get('dedup_id_disagreements_total')).toBe(2);
    expect(m.get('dedup_completed_total')).toBe(1);
    // Rate-limited: the second disagreement, seconds after the first, is counted but not logged.
    const warnings = sup.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('message ids disagree'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, id: 'order-1', otherId: 'order-1-uuid-1', count: 1 });
    expect(warnings[0]!.msg).toContain('--id-from');
  });
});

describe('--id-from property,body', () => {
  const pool = inProcessPool();

  it('runs under the property: a fresh messageId per publish runs the same body again', async () => {
    const e = await pool.env('idprop');
    const replica = await pool.replica({ queue: e.queue, prefix: e.prefix, handler: LEDGER_HANDLER, threads: 1, idFrom: 'property,body' });
    await publishRaw(e.ch, e.queue, twice('order-2', e.ledger));
    await waitFor(() => replica.stats.completed === 2, 20_000, 'both copies completed');
    expect(executions(e.ledger)).toEqual(new Map([['order-2-uuid-1', 1], ['order-2-uuid-2', 1]]));
    expect(replica.stats.idDisagreements).toBe(2);
  });
});
