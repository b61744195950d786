/** Ack coalescing per channel, on a recording stand-in for the channel (a pure unit test). */
import type { Channel, ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { ChannelAcks, type Settleable } from '../src/amqp/acks.js';

function setup() {
  const sent: string[] = [];
  const ch = {
    ack: (m: ConsumeMessage, multiple = false) => sent.push(`ack ${m.fields.deliveryTag}${multiple ? ' multiple' : ''}`),
    nack: (m: ConsumeMessage, multiple = false, requeue = true) => sent.push(`nack ${m.fields.deliveryTag}${multiple ? ' multiple' : ''}${requeue ? ' requeue' : ''}`),
  } as unknown as Channel;
  const acks = new ChannelAcks(ch);
  const deliver = (tag: number, at = Date.now()): Settleable => {
    const d: Settleable = { msg: { fields: { deliveryTag: tag } } as ConsumeMessage, state: 0, at };
    acks.track(d);
    return d;
  };
  return { sent, acks, deliver };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('ChannelAcks', () => {
  it('acks a settled run of tags with one multiple ack per turn', async () => {
    const { sent, acks, deliver } = setup();
    const ds = [1, 2, 3, 4, 5].map((t) => deliver(t));
    for (const d of [ds[2]!, ds[0]!, ds[4]!, ds[1]!, ds[3]!]) acks.ack(d);
    await turn();
    expect(sent).toEqual(['ack 5 multiple']);
  });

  it('never covers an open delivery: acks above it wait, then go alone', async () => {
    const { sent, acks, deliver } = setup();
    const ds = [1, 2, 3, 4, 5].map((t) => deliver(t));
    acks.ack(ds[0]!);
    acks.ack(ds[1]!);
    acks.ack(ds[3]!);
    acks.ack(ds[4]!);
    await turn();
    expect(sent).toEqual(['ack 2 multiple']);
    await new Promise((r) => setTimeout(r, 40));
    expect(sent).toEqual(['ack 2 multiple', 'ack 4', 'ack 5']);
    acks.ack(ds[2]!);
    await turn();
    expect(sent.at(-1)).toBe('ack 3 multiple');
  });

  it('requeues at once and exactly, and a later multiple ack steps over it', async () => {
    const { sent, acks, deliver } = setup();
    const ds = [1, 2, 3].map((t) => deliver(t));
    acks.requeue(ds[1]!);
    expect(sent).toEqual(['nack 2 requeue']);
    acks.ack(ds[0]!);
    acks.ack(ds[2]!);
    await turn();
    expect(sent).toEqual(['nack 2 requeue', 'ack 3 multiple']);
  });

  it('settles each delivery once; nothing is sent after the channel closed', async () => {
    const { sent, acks, deliver } = setup();
    const a = deliver(1);
    const b = deliver(2);
    acks.ack(a);
    acks.ack(a);
    acks.requeue(a);
    await turn();
    expect(sent).toEqual(['ack 1 multiple']);
    acks.close();
    acks.ack(b);
    acks.requeue(b);
    await turn();
    expect(sent).toEqual(['ack 1 multiple']);
  });

  it('flush(true) sends every waiting ack before a close', () => {
    const { sent, acks, deliver } = setup();
    const ds = [1, 2, 3].map((t) => deliver(t));
    acks.ack(ds[0]!);
    acks.ack(ds[2]!);
    acks.flush(true);
    expect(sent).toEqual(['ack 1 multiple', 'ack 3']);
  });
});
