import { afterEach, describe, expect, it } from 'vitest';
import { HEADERS, Replica } from '../src/index.js';
import { LEDGER_HANDLER, body, drain, executions, publishRaw, testEnv, waitFor, type TestEnv } from './helpers/services.js';

describe('malformed input goes to the dead-letter queue with its reason', () => {
  let env: TestEnv;
  let replica: Replica | undefined;
  afterEach(async () => {
    await replica?.stop();
    await env.cleanup();
  });

  it('dead-letters each bad message and keeps processing good ones', async () => {
    env = await testEnv('bad');
    replica = await new Replica({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, threads: 1, maxBytes: 2048, logLevel: 'silent' }).start();
    const cases: { name: string; content: Buffer | string; reason: string; error: RegExp }[] = [
      { name: 'python-repr', content: "{'message_id': 'a', 'data': 'Hello, World!'}", reason: 'NOT_JSON', error: /Python dict repr/ },
      { name: 'no-id', content: JSON.stringify({ data: 1 }), reason: 'NO_ID', error: /no message id/ },
      { name: 'too-large', content: JSON.stringify({ message_id: 'big', data: 'x'.repeat(4000) }), reason: 'TOO_LARGE', error: /over the limit of 2048/ },
      { name: 'bad-utf8', content: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), reason: 'NOT_JSON', error: /UTF-8/ },
      { name: 'control-chars', content: JSON.stringify({ message_id: 'a\nb' }), reason: 'BAD_ID', error: /control characters/ },
      { name: 'object-id', content: JSON.stringify({ message_id: { x: 1 } }), reason: 'BAD_ID', error: /not a string/ },
      { name: 'not-an-object', content: '"just a string"', reason: 'NO_ID', error: /the body is a string, not a JSON object/ },
      { name: 'long-id', content: JSON.stringify({ message_id: 'x'.repeat(600) }), reason: 'BAD_ID', error: /over 512 bytes/ },
    ];
    await publishRaw(env.ch, env.queue, cases.map((c) => ({ content: c.content, props: { headers: { case: c.name } } })));
    // A header of the wrong type where the id is looked for.
    cases.push({ name: 'table-header-id', content: '{"data":1}', reason: 'BAD_ID', error: /header x-message-id is a object/ });
    await publishRaw(env.ch, env.queue, [{ content: '{"data":1}', props: { headers: { case: 'table-header-id', 'x-message-id': { nested: 1 } } } }]);
    await publishRaw(env.ch, env.queue, [body('good-1', { ledger: env.ledger })]);

    await waitFor(() => replica!.stats.completed === 1 && replica!.stats.deliveries === cases.length + 1 && replica!.stats.inFlight === 0, 20_000, 'all settled');
    const dead = await drain(env.ch, `${env.queue}.dlq`);
    expect(dead).toHaveLength(cases.length);
    for (const c of cases) {
      const m = dead.find((d) => d.properties.headers?.case === c.name);
      expect(m, c.name).toBeDefined();
      expect(m!.properties.headers![HEADERS.reason], c.name).toBe(c.reason);
      expect(String(m!.properties.headers![HEADERS.error]), c.name).toMatch(c.error);
      expect(m!.content.equals(Buffer.isBuffer(c.content) ? c.content : Buffer.from(c.content)), c.name).toBe(true);
    }
    expect(executions(env.ledger)).toEqual(new Map([['good-1', 1]]));
    expect((await env.ch.checkQueue(env.queue)).messageCount).toBe(0);
  });
});
