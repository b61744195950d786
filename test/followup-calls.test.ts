/** ctx.publish's rules, where the handler runs: ids, the body format, what is refused. */
import { createHash } from 'node:crypto';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FOLLOWUP_NAMESPACE, followupId } from '../src/common/followup-ids.js';
import { FollowupCalls, type FollowupConfig } from '../src/threads/followup-calls.js';

const CFG: FollowupConfig = { scope: 'orders', idField: 'message_id', maxBytes: 200 };
const log = pino({ level: 'silent' });
const calls = (cfg: FollowupConfig | undefined = CFG) => new FollowupCalls(cfg, { id: 'in-1', headers: {} }, () => log);

describe('follow-up ids', () => {
  it('are UUIDv8 from SHA-256 of the namespace and scope NUL id NUL position, the same on every call', () => {
    const id = followupId('orders', 'in-1', 0);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(followupId('orders', 'in-1', 0)).toBe(id);
    // Recomputed from the documented recipe, as another language would.
    const h = createHash('sha256').update(Buffer.from(FOLLOWUP_NAMESPACE.replace(/-/g, ''), 'hex')).update('orders\0in-1\0' + '0').digest('hex').slice(0, 32).split('');
    h[12] = '8';
    h[16] = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
    const hex = h.join('');
    expect(id).toBe(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`);
    const others = [followupId('orders', 'in-1', 1), followupId('billing', 'in-1', 0), followupId('orders', 'in-10', 0), followupId('orders\0in', '1', 0)];
    expect(new Set([id, ...others]).size).toBe(5);
  });
});

describe('ctx.publish', () => {
  it('wraps a body without an id as {message_id, data}; keeps a body that has one; raw bytes stay raw', () => {
    const c = calls();
    c.publish('next', { amount: 3 });
    c.publish('ex', 'rk', { message_id: 'own-1', amount: 4 });
    c.publish('ex', 'rk', [1, 2], { id: 'given-1', headers: { tenant: 'a' }, persistent: false });
    c.publish('', 'next', Buffer.from('raw'), { contentType: 'text/plain' });
    const [a, b, d, r] = c.list;
    expect(a).toMatchObject({ position: 0, exchange: '', routingKey: 'next', id: followupId('orders', 'in-1', 0), contentType: 'application/json', persistent: true });
    expect(a!.content).toBe(JSON.stringify({ message_id: a!.id, data: { amount: 3 } }));
    expect(a!.headers).toEqual({ 'x-message-id': a!.id, 'x-dedup-followup-of': 'in-1' });
    expect(b).toMatchObject({ id: 'own-1', content: JSON.stringify({ message_id: 'own-1', amount: 4 }) });
    expect(d).toMatchObject({ id: 'given-1', persistent: false, content: JSON.stringify({ message_id: 'given-1', data: [1, 2] }) });
    expect(d!.headers.tenant).toBe('a');
    expect(r).toMatchObject({ id: followupId('orders', 'in-1', 3), contentType: 'text/plain' });
    expect(Buffer.from(r!.content).toString()).toBe('raw');
  });

  it('carries the incoming traceparent when no span is active', () => {
    const c = new FollowupCalls(CFG, { id: 'in-1', headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } }, () => log);
    c.publish('next', {});
    expect(c.list[0]!.headers.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  });

  it.each([
    [['next'], /takes \(queue, body\) or/],
    [['bad name!', 'rk', {}], /exchange "bad name!" is not an exchange name/],
    [['', '', {}], /the default exchange needs a queue name/],
    [['next', undefined], /body is undefined/],
    [['next', { message_id: 7 }], /body's message_id must be a non-empty string/],
    [['', 'next', { message_id: 'a' }, { id: 'b' }], /options.id "b" differs from the body's message_id "a"/],
    [['', 'next', {}, { ttl: 5 }], /unknown option "ttl"/],
    [['', 'next', {}, { headers: { h: {} } }], /header "h" must be a string, number or boolean/],
    [['', 'next', {}, { contentType: 'text/plain' }], /contentType applies to Buffer bodies only/],
    [['next', { big: 'x'.repeat(300) }], /body is \d+ bytes, over --max-bytes 200 \(to queue 'next'\)/],
    [['next', { n: 10n }], /body cannot be written as JSON/],
    [['', 'next', {}, { id: 'a\nb' }], /holds control characters/],
  ])('refuses a bad call (%#) and keeps the refusal even when the handler catches it', (args, why) => {
    const c = calls();
    expect(() => (c.publish as (...a: unknown[]) => void)(...args)).toThrow(why);
    expect(c.misuse?.code).toBe('BAD_FOLLOWUP');
    expect(c.list).toEqual([]);
  });

  it('refuses every call where no follow-up config reached the thread; ignores calls after the run', () => {
    const none = new FollowupCalls(undefined, { id: 'in-1', headers: {} }, () => log);
    expect(() => none.publish('next', {})).toThrow(/follow-up 1 \(ctx.publish call 1\): ctx.publish is not available here/);
    const late = calls();
    late.close();
    late.publish('next', {});
    expect(late.list).toEqual([]);
    expect(late.misuse).toBeUndefined();
  });
});
