/** The lease clock's pacing and its writes to the lease board (fake store; pure unit tests). */
import { describe, expect, it } from 'vitest';
import { monotonicMs } from '../src/common/clock.js';
import { LeaseClock, leaseTiming, type Held } from '../src/replica/lease-clock.js';
import type { DedupStore, Lease } from '../src/store/dedup-store.js';
import { BoardView, BoardWatch, LeaseBoard } from '../src/threads/lease-board.js';

describe('leaseTiming', () => {
  it('stops an unheeding handler within a third of the lease, leaving renewals the middle third', () => {
    for (const ttl of [300, 1000, 3000, 10_000, 30_000, 120_000]) {
      const t = leaseTiming(ttl);
      // Noticing the loss (a tick), the grace, noticing it was ignored (a tick): all inside the budget.
      expect(2 * t.tickMs + t.graceMs).toBeLessThan(t.stopBeforeMs);
      expect(t.stopBeforeMs).toBeLessThanOrEqual(ttl / 3);
      // The watchdog's hard stop: after the lease counts as lost here, and two looks (ticks) and a margin before it ends.
      expect(t.hardStopBeforeMs).toBeLessThan(t.stopBeforeMs);
      expect(t.hardStopBeforeMs - 2 * t.tickMs).toBeGreaterThanOrEqual(10);
    }
  });

  it('ticks often enough for the handler timeout', () => {
    expect(leaseTiming(30_000, 500).tickMs).toBe(100);
    expect(leaseTiming(30_000).tickMs).toBe(1000);
  });
});

describe('LeaseClock', () => {
  const held = (lease: Lease, slot: number, running: boolean): Held => ({ seq: slot, lease, slot, running, lost: false, timedOut: false, abortedAt: 0, stuck: false });

  it("a renewal landing after its task's result does not revive the slot another task now holds", async () => {
    let answer!: (v: boolean[]) => void;
    const store = { extendMany: () => new Promise<boolean[]>((r) => (answer = r)) } as unknown as DedupStore;
    const board = new LeaseBoard(1);
    const view = new BoardView(board.buffer, 7);
    const ttl = 1200;
    const clock = new LeaseClock(store, board, { lockTtlMs: ttl, handlerTimeoutMs: 0 }, { extended: () => {}, lost: () => {}, timedOut: () => {}, stuck: () => {} });
    try {
      // A's lease is due for renewal (less than two thirds left), far from its deadline.
      const a: Lease = { id: 'a', token: 't', fence: 1, fences: [1], validUntil: monotonicMs() + 0.6 * ttl };
      const slotA = board.acquire(clock.deadline(a), clock.hardStop(a))!;
      const ha = held(a, slotA, true);
      clock.hold(ha);
      while (!answer) await new Promise((r) => setTimeout(r, 5)); // the renewal is out
      expect(ha.lost).toBe(false);
      // A's result arrives: its slot goes to B, whose lease is already gone.
      ha.running = false;
      board.release(slotA);
      const slotB = board.acquire(0, 0)!;
      expect(slotB).toBe(slotA);
      answer([true]);
      await new Promise((r) => setTimeout(r, 10));
      expect(ha.lost).toBe(false);
      expect(view.start(slotB)).toBe('lease-expired');
    } finally {
      clock.stop();
    }
  });

  it('a lease whose renewal never lands is lost before its validity ends, by the stop budget', async () => {
    const store = { extendMany: () => new Promise<boolean[]>(() => {}) } as unknown as DedupStore;
    const board = new LeaseBoard(1);
    const ttl = 600;
    let lostAt = 0;
    const clock = new LeaseClock(store, board, { lockTtlMs: ttl, handlerTimeoutMs: 0 }, { extended: () => {}, lost: () => (lostAt = monotonicMs()), timedOut: () => {}, stuck: () => {} });
    try {
      const lease: Lease = { id: 'a', token: 't', fence: 1, fences: [1], validUntil: monotonicMs() + ttl };
      const h = held(lease, board.acquire(clock.deadline(lease), clock.hardStop(lease))!, true);
      clock.hold(h);
      for (const end = monotonicMs() + 2 * ttl; !h.lost && monotonicMs() < end; ) await new Promise((r) => setTimeout(r, 5));
      expect(h.lost).toBe(true);
      expect(lostAt).toBeLessThan(lease.validUntil - clock.timing.stopBeforeMs + clock.timing.tickMs + 50);
      expect(new BoardView(board.buffer, 1).start(h.slot)).toBe('lease-expired');
    } finally {
      clock.stop();
    }
  });

  it('beats the board every tick, so the watchdog tells a live main thread from a blocked one', async () => {
    const store = { extendMany: () => new Promise<boolean[]>(() => {}) } as unknown as DedupStore;
    const board = new LeaseBoard(1);
    const watch = new BoardWatch(board.buffer);
    const clock = new LeaseClock(store, board, { lockTtlMs: 600, handlerTimeoutMs: 0 }, { extended: () => {}, lost: () => {}, timedOut: () => {}, stuck: () => {} });
    const tick = () => new Promise((r) => setTimeout(r, 2 * clock.timing.tickMs));
    const first = watch.heartbeat;
    await tick();
    const second = watch.heartbeat;
    expect(second).toBeGreaterThan(first);
    clock.stop();
    await tick();
    expect(watch.heartbeat).toBe(second);
  });
});
