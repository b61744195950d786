import { describe, expect, it } from 'vitest';
import { parseDelivery } from '../src/amqp/message.js';
import { idKeyPart, keysFor } from '../src/store/keys.js';
import { resolveOptions } from '../src/common/options.js';

const opts = resolveOptions({ queue: 'q', handler: './h.mjs', maxBytes: 1024 });
const msg = (content: string | Buffer, properties: Record<string, unknown> = {}) => ({
  content: Buffer.isBuffer(content) ? content : Buffer.from(content),
  properties,
});

describe('parseDelivery', () => {
  it('reads the article body {"message_id", "data"}', () => {
    const p = parseDelivery(msg('{"message_id":"m-1","data":"Hello, World!"}'), opts);
    expect(p).toEqual({ ok: true, id: 'm-1', body: { message_id: 'm-1', data: 'Hello, World!' }, headers: {} });
  });
  it('by default prefers the body id, then the x-message-id header, then the messageId property', () => {
    const b = '{"message_id":"body-id"}';
    expect(parseDelivery(msg(b, { messageId: 'prop-id', headers: { 'x-message-id': 'h' } }), opts)).toMatchObject({ id: 'body-id' });
    expect(parseDelivery(msg('{}', { messageId: 'prop-id', headers: { 'x-message-id': 'header-id' } }), opts)).toMatchObject({ id: 'header-id' });
    expect(parseDelivery(msg('{}', { messageId: 'prop-id' }), opts)).toMatchObject({ id: 'prop-id' });
    expect(parseDelivery(msg('raw', { contentType: 'text/plain', messageId: 'prop-id' }), opts)).toMatchObject({ id: 'prop-id' });
  });
  it('reports a later source holding a different id, and runs under the first', () => {
    const p = parseDelivery(msg('{"message_id":"order-1"}', { messageId: 'fresh-uuid' }), opts);
    expect(p).toMatchObject({ ok: true, id: 'order-1', disagreement: { chosenFrom: 'body field message_id', otherFrom: 'the message-id property', otherId: 'fresh-uuid' } });
    // The same ids everywhere, or one source only: nothing to report.
    expect(parseDelivery(msg('{"message_id":"order-1"}', { messageId: 'order-1' }), opts)).not.toHaveProperty('disagreement');
    expect(parseDelivery(msg('{"message_id":42}', { messageId: '42' }), opts)).not.toHaveProperty('disagreement');
    expect(parseDelivery(msg('{"message_id":"order-1"}'), opts)).not.toHaveProperty('disagreement');
  });
  it('--id-from chooses the order: property first runs under the property and reports the body', () => {
    const o = resolveOptions({ queue: 'q', handler: './h.mjs', idFrom: 'property,body' });
    expect(parseDelivery(msg('{"message_id":"order-1"}', { messageId: 'fresh-uuid' }), o)).toMatchObject({
      id: 'fresh-uuid',
      disagreement: { chosenFrom: 'the message-id property', otherFrom: 'body field message_id', otherId: 'order-1' },
    });
    // A source left out of --id-from is not read at all.
    const bodyOnly = resolveOptions({ queue: 'q', handler: './h.mjs', idFrom: 'body' });
    expect(parseDelivery(msg('{"message_id":"order-1"}', { messageId: 'fresh-uuid' }), bodyOnly)).not.toHaveProperty('disagreement');
  });
  it('accepts integer ids from Python producers', () => {
    expect(parseDelivery(msg('{"message_id":42}'), opts)).toMatchObject({ ok: true, id: '42' });
  });
  it('hashes the content when configured', () => {
    const o = resolveOptions({ queue: 'q', handler: './h.mjs', idFrom: 'content' });
    const a = parseDelivery(msg('{"x":1}'), o);
    const b = parseDelivery(msg('{"x":1}'), o);
    expect(a).toMatchObject({ ok: true, id: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect(a).toEqual(b);
  });
  it('passes non-JSON content types through as bytes', () => {
    const p = parseDelivery(msg('plain words', { contentType: 'text/plain', messageId: 't' }), opts);
    expect(p.ok && Buffer.isBuffer(p.body) && p.body.toString()).toBe('plain words');
  });
  it.each([
    ['a Python dict repr', msg("{'message_id': 'a'}"), 'NOT_JSON', /Python dict repr/],
    ['invalid UTF-8', msg(Buffer.from([0xc3, 0x28])), 'NOT_JSON', /UTF-8/],
    ['no id anywhere', msg('{"data":1}'), 'NO_ID', /tried body, header:x-message-id, property/],
    ['an array body', msg('[1,2]'), 'NO_ID', /the body is an array, not a JSON object/],
    ['a number body', msg('42'), 'NO_ID', /the body is a number, not a JSON object/],
    ['a header id that is a table', msg('{}', { headers: { 'x-message-id': { a: 1 } } }), 'BAD_ID', /header x-message-id is a object/],
    ['an id over 512 bytes', msg(JSON.stringify({ message_id: 'x'.repeat(513) })), 'BAD_ID', /over 512 bytes/],
    ['an id with control characters', msg(JSON.stringify({ message_id: 'a\u0000' })), 'BAD_ID', /control characters/],
    ['a header id that is not a string', msg('{}', { headers: { 'x-message-id': true } }), 'BAD_ID', /header x-message-id is a boolean/],
    ['a body over max-bytes', msg('x'.repeat(2000)), 'TOO_LARGE', /2000 bytes, over the limit of 1024/],
  ])('rejects %s', (_name, m, reason, detail) => {
    const p = parseDelivery(m, opts);
    expect(p.ok).toBe(false);
    if (!p.ok) {
      expect(p.reason).toBe(reason);
      expect(p.detail).toMatch(detail);
    }
  });
});

describe('keys', () => {
  it('keeps short printable ids readable and hashes the rest', () => {
    const keys = keysFor('p', 'orders');
    expect(keys.lock('order-1')).toMatch(/^p:orders:lease:\{\d{1,4}\}:order-1$/);
    // The counter lives in the lease key; layouts of format 1 keep the two apart.
    expect(keys.fence('order-1')).toBe(keys.lock('order-1'));
    const split = keys.withFormat(1);
    expect(split.lock('order-1')).toBe(keys.lock('order-1').replace(':lease:', ':lock:'));
    expect(split.fence('order-1')).toBe(keys.lock('order-1').replace(':lease:', ':fence:'));
    expect([split.prefixes[3], keys.prefixes[3]]).toEqual(['p:orders:fence:', '']);
    expect(idKeyPart('x'.repeat(200))).toMatch(/^#[\w-]{43}$/);
    expect(idKeyPart('with space')).toMatch(/^#/);
    expect(idKeyPart('#looks-hashed')).not.toBe('#looks-hashed');
  });

  it('names each id by a 112-bit digest and a bucket from other bits of it; the bucket is the hash tag', () => {
    const keys = keysFor('p', 'orders', { buckets: 16 });
    const a = keys.id('order-1');
    // 16 characters of 7 bits: 16 bytes in UTF-8.
    expect(a.field).toHaveLength(16);
    expect(Buffer.byteLength(a.field)).toBe(16);
    expect(a.tag).toMatch(/^\{(\d|1[0-5])\}$/);
    expect(keys.id('order-2').field).not.toBe(a.field);
    const fields = new Set(Array.from({ length: 5000 }, (_, i) => keys.id(`f-${i}`).field));
    expect(fields.size).toBe(5000);
    const tags = new Set(Array.from({ length: 400 }, (_, i) => keys.id(`id-${i}`).tag));
    expect(tags.size).toBe(16);
    expect(keysFor('p', 'orders', { legacy: false }).prefixes[4]).toBe('');
    expect(keys.prefixes[4]).toBe('p:done:');
  });
});
