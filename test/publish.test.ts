import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { WINDOW, prepareLine, publishLines, terminalProgress } from '../src/cli/publish.js';
import { parseDelivery } from '../src/amqp/message.js';
import { resolveOptions } from '../src/common/options.js';
import { ConfigError } from '../src/common/errors.js';

/** A producer whose confirms arrive only when the test says so, counting publishes awaiting theirs. */
function heldProducer() {
  const held: (() => void)[] = [];
  const state = { outstanding: 0, most: 0, ids: [] as string[] };
  return {
    state,
    release: () => held.splice(0).forEach((r) => r()),
    producer: {
      publish(_body: unknown, o: { id?: string } = {}): Promise<string> {
        state.outstanding += 1;
        state.most = Math.max(state.most, state.outstanding);
        state.ids.push(o.id!);
        return new Promise((resolve) =>
          held.push(() => {
            state.outstanding -= 1;
            resolve(o.id!);
          }),
        );
      },
    },
  };
}

const lines = (n: number, from = 0) => Array.from({ length: n }, (_, i) => JSON.stringify({ message_id: `m-${from + i}` })).join('\n');

describe('publishLines', () => {
  it(`keeps up to ${WINDOW} publishes awaiting their confirms, never more`, async () => {
    const p = heldProducer();
    const timer = setInterval(p.release, 5);
    const n = await publishLines(p.producer, Readable.from([lines(2500)]), { idField: 'message_id', generateIds: false });
    clearInterval(timer);
    expect(n).toBe(2500);
    expect(p.state.most).toBeGreaterThan(WINDOW / 2);
    expect(p.state.most).toBeLessThanOrEqual(WINDOW);
    expect(p.state.ids.slice(0, 3)).toEqual(['m-0', 'm-1', 'm-2']);
  });

  it('stops at a line without an id, after confirming the lines before it', async () => {
    const p = heldProducer();
    const timer = setInterval(p.release, 5);
    const input = `${lines(3)}\n\n{"data":"no id"}\n${lines(2, 3)}\n`;
    const err = await publishLines(p.producer, Readable.from([input]), { idField: 'message_id', generateIds: false }).catch((e: unknown) => e);
    clearInterval(timer);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/^line 5 has no message id \(no "message_id" field; .*--generate-ids.*\); the 3 line\(s\) before it were published$/);
    expect(p.state.ids).toEqual(['m-0', 'm-1', 'm-2']);
  });

  it('with generateIds, publishes such a line under a new id and prints it with its line number', async () => {
    const p = heldProducer();
    const timer = setInterval(p.release, 5);
    const printed: string[] = [];
    const progress: [number, boolean][] = [];
    await publishLines(p.producer, Readable.from([`{"data":1}\n${lines(1)}\n`]), { idField: 'message_id', generateIds: true, out: (l) => printed.push(l), onProgress: (n, done) => progress.push([n, done]) });
    clearInterval(timer);
    expect(printed).toHaveLength(1);
    expect(printed[0]).toBe(`1 ${p.state.ids[0]}`);
    expect(p.state.ids[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(progress.at(-1)).toEqual([2, true]);
  });

  it('keeps each line\'s bytes: big integers, trailing zeros, spacing and key order survive', () => {
    const text = '{ "n": 12345678901234567890, "message_id": "m-1", "price": 1.10, "e": 1e2 }';
    const p = prepareLine(text, 'message_id', false);
    expect(p).toMatchObject({ ok: true, id: 'm-1', generated: false });
    expect(p.ok && p.content.toString('utf8')).toBe(text);
  });

  it('reads ids the way the pool does: a string or an integer number; refuses what the pool would dead-letter', () => {
    expect(prepareLine('{"message_id":42}', 'message_id', false)).toMatchObject({ ok: true, id: '42' });
    expect(prepareLine('{"id":"x"}', 'id', false)).toMatchObject({ ok: true, id: 'x' });
    expect(prepareLine('{"message_id":""}', 'message_id', false)).toMatchObject({ ok: false, problem: expect.stringMatching(/^has no message id/) });
    expect(prepareLine('[1]', 'message_id', false)).toMatchObject({ ok: false, problem: expect.stringMatching(/^has no message id/) });
    // Past 2^53 a number id is not exact in JSON.parse, so the pool dead-letters it: publish says so first.
    expect(prepareLine('{"message_id":12345678901234567890}', 'message_id', false)).toMatchObject({ ok: false, problem: 'has a message id the pool would dead-letter: id in body field message_id is a number, not a string' });
    expect(prepareLine('{"message_id":{"a":1}}', 'message_id', true)).toMatchObject({ ok: false, problem: expect.stringMatching(/would dead-letter: .* is a object/) });
    expect(prepareLine('{message_id: 1}', 'message_id', false)).toMatchObject({ ok: false, problem: expect.stringMatching(/^is not JSON \(/) });
  });

  it('with generateIds, adds the new id as the first field of an object line and changes nothing else', () => {
    const p = prepareLine('{"data": 1.10}', 'message_id', true);
    expect(p).toMatchObject({ ok: true, generated: true, id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7/) });
    if (!p.ok) return;
    expect(p.content.toString()).toBe(`{"message_id":"${p.id}","data": 1.10}`);
    // The pool finds that id in the body, whatever --id-from order puts first.
    const pool = resolveOptions({ queue: 'q', handler: './h.mjs' });
    expect(parseDelivery({ content: p.content, properties: { messageId: p.id } }, pool)).toMatchObject({ ok: true, id: p.id });
    const empty = prepareLine(' { } ', 'message_id', true);
    expect(empty.ok && empty.content.toString()).toBe(` {"message_id":"${empty.ok && empty.id}" } `);
    // Not an object: nothing to add a field to; the id goes as the message-id property only.
    const array = prepareLine('[1,2]', 'message_id', true);
    expect(array.ok && array.content.toString()).toBe('[1,2]');
  });

  it('shows progress only on a terminal, rewriting one line', () => {
    const written: string[] = [];
    const stream = (isTTY: boolean) => ({ isTTY, write: (t: string) => written.push(t) }) as unknown as NodeJS.WriteStream;
    expect(terminalProgress(stream(false))).toBeUndefined();
    const progress = terminalProgress(stream(true))!;
    progress(10, false);
    progress(20, true);
    expect(written).toEqual(['\rpublishing: 10 message(s) confirmed', '\rpublishing: 20 message(s) confirmed\n']);
  });
});
