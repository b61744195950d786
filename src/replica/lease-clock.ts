/**
 * One clock per replica keeps every held lease alive: each tick renews, in one
 * store call, every lease past a third of its length, and watches the handlers
 * that hold them. No timer or AbortController per message.
 *
 * A lease is lost when its renewal is refused, or when its deadline passes before
 * a renewal lands (Redis unreachable, a long pause). The deadline comes early
 * enough that a handler ignoring its abort is stopped before the lease can expire
 * in Redis (see leaseTiming). A handler running past --handler-timeout is asked to
 * stop; one that ignores that (or a lost lease) for the grace period is reported as
 * stuck, so its thread can be terminated. All times are monotonic (common/clock.ts).
 */
import { ChurnMap } from '../common/churn-map.js';
import { monotonicMs } from '../common/clock.js';
import type { DedupStore, Lease } from '../store/dedup-store.js';
import type { LeaseBoard } from '../threads/lease-board.js';

/** How the clock paces itself for a lease length. */
export interface LeaseTiming {
  /** Between two looks at every lease. */
  tickMs: number;
  /** How long an aborted handler may run on before its thread is terminated. */
  graceMs: number;
  /**
   * A lease counts as lost this long before its validity ends: a tick to notice the
   * loss, the grace, a tick to notice the handler ignored it, and a margin for the
   * thread to stop. A handler that ignores its signal is gone before Redis can expire
   * its lease and hand the id to another replica.
   */
  stopBeforeMs: number;
  /**
   * A handler still running this long before the lease's validity ends, while the main
   * thread is blocked, is ended with its process by the watchdog, which looks every tick
   * and acts on its second look: before Redis can expire the lease.
   */
  hardStopBeforeMs: number;
}

/** Renewals start once less than this share of a lease is left. */
const RENEW_BELOW = 2 / 3;

/**
 * The clock's pacing for a lease length. The stop budget stays within a third of the
 * lease, so renewals (due from a third of the lease on) have the middle third to land.
 */
export function leaseTiming(lockTtlMs: number, handlerTimeoutMs = 0): LeaseTiming {
  const tickMs = Math.max(5, Math.floor(Math.min(lockTtlMs / 12, 1000, ...(handlerTimeoutMs > 0 ? [handlerTimeoutMs / 5] : []))));
  const graceMs = Math.max(20, Math.floor(Math.min(lockTtlMs / 12, 1000)));
  const marginMs = Math.max(10, Math.floor(Math.min(lockTtlMs / 30, 250)));
  return { tickMs, graceMs, stopBeforeMs: 2 * tickMs + graceMs + marginMs, hardStopBeforeMs: 2 * tickMs + marginMs };
}

/** What the clock watches: a held lease and, while `running`, its handler. */
export interface Held {
  /** Unique among the held (its key here). */
  readonly seq: number;
  readonly lease: Lease;
  /** LeaseBoard slot. */
  slot: number;
  /** The handler may be running (the task is out on the executor). */
  running: boolean;
  lost: boolean;
  timedOut: boolean;
  /** Running past --overdue-after (reported once). */
  overdue: boolean;
  /** When the handler was asked to stop (lease lost, timeout, drain), 0 if not. */
  abortedAt: number;
  stuck: boolean;
}

export interface LeaseClockOptions {
  lockTtlMs: number;
  /** 0: none. */
  handlerTimeoutMs: number;
  /** 0: never. */
  overdueAfterMs: number;
}

export interface LeaseClockEvents {
  extended(held: Held): void;
  lost(held: Held): void;
  timedOut(held: Held): void;
  overdue(held: Held): void;
  stuck(held: Held): void;
}

export class LeaseClock {
  /** By Held.seq. */
  private readonly held = new ChurnMap<number, Held>();
  private readonly timer: NodeJS.Timeout;
  /** A renewal call is out: the next one waits for it. */
  private renewing = false;
  /** Renew a lease once less than this much of it is left. */
  private readonly renewBelowMs: number;
  readonly timing: LeaseTiming;

  constructor(
    private readonly store: DedupStore,
    private readonly board: LeaseBoard,
    private readonly opts: LeaseClockOptions,
    private readonly on: LeaseClockEvents,
  ) {
    this.renewBelowMs = opts.lockTtlMs * RENEW_BELOW;
    this.timing = leaseTiming(opts.lockTtlMs, opts.handlerTimeoutMs);
    this.timer = setInterval(() => this.tick(), this.timing.tickMs);
    this.timer.unref();
  }

  /** Until when a task under `lease` may start or run: the board holds this, not the lease's validity. */
  deadline(lease: Lease): number {
    return lease.validUntil - this.timing.stopBeforeMs;
  }

  /** By when a handler under `lease` must have stopped, whatever the main thread is doing (the board's hard stop). */
  hardStop(lease: Lease): number {
    return lease.validUntil - this.timing.hardStopBeforeMs;
  }

  hold(h: Held): void {
    this.held.set(h.seq, h);
  }

  drop(h: Held): void {
    this.held.delete(h.seq);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Every tick looks at every lease, also while a renewal is out: a renewal can take as
   * long as the store's timeouts (longer than a short lease), and a lease past its local
   * validity is lost whatever that renewal answers later.
   */
  private tick(): void {
    const now = monotonicMs();
    // The watchdog tells a blocked main thread by this (workers/watchdog.ts).
    this.board.beat(now);
    if (this.held.size === 0) return;
    const due: Held[] = [];
    for (const h of this.held.values()) {
      if (!h.lost) {
        if (now >= this.deadline(h.lease)) this.lose(h);
        else if (h.lease.validUntil - now < this.renewBelowMs) due.push(h);
      }
      if (!h.running) continue;
      const started = this.board.startedAt(h.slot);
      if (this.opts.handlerTimeoutMs > 0 && started > 0 && !h.timedOut && now - started > this.opts.handlerTimeoutMs) {
        h.timedOut = true;
        this.on.timedOut(h);
      }
      if (this.opts.overdueAfterMs > 0 && started > 0 && !h.overdue && now - started > this.opts.overdueAfterMs) {
        h.overdue = true;
        this.on.overdue(h);
      }
      if (h.abortedAt > 0 && !h.stuck && now - h.abortedAt >= this.timing.graceMs) {
        h.stuck = true;
        this.on.stuck(h);
      }
    }
    if (due.length > 0 && !this.renewing) {
      this.renewing = true;
      void this.renew(due).finally(() => (this.renewing = false));
    }
  }

  private async renew(due: Held[]): Promise<void> {
    let extended: boolean[];
    try {
      extended = await this.store.extendMany(due.map((h) => h.lease));
    } catch {
      // Nothing is known: each lease is lost once its local validity passes (next ticks).
      return;
    }
    due.forEach((h, i) => {
      if (this.held.get(h.seq) !== h || h.lost) return;
      if (extended[i]) {
        // The slot is this lease's only while its task is out: once the result is in, the
        // slot may belong to another task, whose deadline this must not overwrite.
        if (h.running) this.board.set(h.slot, this.deadline(h.lease), this.hardStop(h.lease));
        this.on.extended(h);
      } else this.lose(h);
    });
  }

  private lose(h: Held): void {
    h.lost = true;
    if (h.running) this.board.lose(h.slot);
    this.on.lost(h);
  }
}
