/** The layout guard's comparison and messages (pure). */
import { describe, expect, it } from 'vitest';
import { LAYOUT_FORMAT, layoutMismatch, layoutOf, parseLayout } from '../src/store/layout.js';

const place = { prefix: 'dedup', queue: 'orders', scope: 'orders', names: ['redis://127.0.0.1:6379'] };
const stored = { ...layoutOf({ dedupTtlMs: 3600_000, dedupBuckets: 1024 }), setAt: Date.UTC(2026, 11, 2, 18) };

describe('layout mismatch', () => {
  it('agrees with itself', () => {
    expect(layoutMismatch(stored, layoutOf({ dedupTtlMs: 3600_000, dedupBuckets: 1024 }), place, 'r')).toBeUndefined();
  });

  it('names the window, both values, when it was stored and the command that changes it', () => {
    const err = layoutMismatch(stored, layoutOf({ dedupTtlMs: 7200_000, dedupBuckets: 1024 }), place, 'redis://127.0.0.1:6379')!;
    expect(err).toMatchObject({ code: 'LAYOUT_MISMATCH', option: 'dedup-ttl' });
    expect(err.message).toContain('--dedup-ttl 2h differs from the record layout stored for prefix dedup, queue orders on redis://127.0.0.1:6379: 1h (stored 2026-12-02T18:00:00.000Z)');
    expect(err.message).toContain('dedup-pool layout set --queue orders --prefix dedup --dedup-ttl 2h');
  });

  it('names a shared scope and passes it to layout set', () => {
    const err = layoutMismatch(stored, layoutOf({ dedupTtlMs: 60_000, dedupBuckets: 1024 }), { ...place, scope: 'billing' }, 'r')!;
    expect(err.message).toContain('scope billing on r: 1h');
    expect(err.message).toContain('--dedup-scope billing --dedup-ttl 1m');
  });

  it('buckets and the record format come before the window, each with its own advice', () => {
    const buckets = layoutMismatch(stored, layoutOf({ dedupTtlMs: 60_000, dedupBuckets: 64 }), place, 'r')!;
    expect(buckets).toMatchObject({ option: 'dedup-buckets', message: expect.stringContaining('Start with --dedup-buckets 1024; records cannot move to other buckets') });
    const format = layoutMismatch({ ...stored, format: LAYOUT_FORMAT + 1 }, layoutOf({ dedupTtlMs: 3600_000, dedupBuckets: 1024 }), place, 'r')!;
    expect(format).toMatchObject({ option: 'prefix', message: expect.stringContaining('stored by a later dedup-pool version: run that one, or give this one a new --prefix') });
    expect(layoutMismatch({ ...stored, format: 0 }, stored, place, 'r')).toMatchObject({ option: 'prefix', message: expect.stringContaining('need a new --prefix') });
  });

  it('runs a scope an earlier version stored (format 1: its lease keys are kept, claimLayout says which)', () => {
    expect(layoutMismatch({ ...stored, format: 1 }, stored, place, 'r')).toBeUndefined();
    expect(LAYOUT_FORMAT).toBe(2);
  });

  it('reads the script reply; nothing stored is undefined', () => {
    expect(parseLayout(['1', '60000', '15000', '1024', '5'])).toEqual({ format: 1, windowMs: 60_000, slotMs: 15_000, buckets: 1024, setAt: 5 });
    expect(parseLayout([null, null, null, null, null])).toBeUndefined();
  });
});
