import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { WINDOW, idOf, publishLines, terminalProgress } from '../src/cli/publish.js';
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

  it('reads ids the way the producer does', () => {
    expect(idOf({ message_id: 'a' }, 'message_id')).toBe('a');
    expect(idOf({ message_id: 42 }, 'message_id')).toBe('42');
    expect(idOf({ message_id: '' }, 'message_id')).toBeUndefined();
    expect(idOf({ id: 'x' }, 'message_id')).toBeUndefined();
    expect(idOf([1], 'message_id')).toBeUndefined();
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
