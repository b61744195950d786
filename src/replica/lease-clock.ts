/**
 * One clock per replica keeps every held lease alive: each tick renews, in one
 * store call, every lease past a third of its length, and watches the handlers
 * that hold them. No timer or AbortController per message.
 *
 * A lease is lost when its renewal is refused, or when its local validity passes
 * before a renewal lands (Redis unreachable, a long pause). A handler running past
 * --handler-timeout is asked to stop; one that ignores that (or a lost lease) for
 * the grace period is reported as stuck, so its thread can be terminated.
 */
import type { DedupStore, Lease } from '../store/dedup-store.js';
import type { LeaseBoard } from '../threads/lease-board.js';

/** What the clock watches: a held lease and, while `running`, its handler. */
export interface Held {
  readonly lease: Lease;
  /** LeaseBoard slot. */
  slot: number;
  /** The handler may be running (the task is out on the executor). */
  running: boolean;
  lost: boolean;
  timedOut: boolean;
  /** When the handler was asked to stop (lease lost, timeout, drain), 0 if not. */
  abortedAt: number;
  stuck: boolean;
}

export interface LeaseClockOptions {
  lockTtlMs: number;
  /** 0: none. */
  handlerTimeoutMs: number;
  /** How long an aborted handler may run on before it counts as stuck. */
  graceMs: number;
}

export interface LeaseClockEvents {
  extended(held: Held): void;
  lost(held: Held): void;
  timedOut(held: Held): void;
  stuck(held: Held): void;
}

export class LeaseClock {
  private readonly held = new Set<Held>();
  private readonly timer: NodeJS.Timeout;
  /** A renewal call is out: the next one waits for it. */
  private renewing = false;
  /** Renew a lease once less than this much of it is left. */
  private readonly renewBelowMs: number;

  constructor(
    private readonly store: DedupStore,
    private readonly board: LeaseBoard,
    private readonly opts: LeaseClockOptions,
    private readonly on: LeaseClockEvents,
  ) {
    this.renewBelowMs = (opts.lockTtlMs * 2) / 3;
    const bounds = [opts.lockTtlMs / 6, 1000, opts.graceMs / 2, ...(opts.handlerTimeoutMs > 0 ? [opts.handlerTimeoutMs / 5] : [])];
    this.timer = setInterval(() => this.tick(), Math.max(5, Math.floor(Math.min(...bounds))));
    this.timer.unref();
  }

  hold(h: Held): void {
    this.held.add(h);
  }

  drop(h: Held): void {
    this.held.delete(h);
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
    if (this.held.size === 0) return;
    const now = Date.now();
    const due: Held[] = [];
    for (const h of this.held) {
      if (!h.lost) {
        if (now >= h.lease.validUntil) this.lose(h);
        else if (h.lease.validUntil - now < this.renewBelowMs) due.push(h);
      }
      if (!h.running) continue;
      const started = this.board.startedAt(h.slot);
      if (this.opts.handlerTimeoutMs > 0 && started > 0 && !h.timedOut && now - started > this.opts.handlerTimeoutMs) {
        h.timedOut = true;
        this.on.timedOut(h);
      }
      if (h.abortedAt > 0 && !h.stuck && now - h.abortedAt > this.opts.graceMs) {
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
      if (!this.held.has(h) || h.lost) return;
      if (extended[i]) {
        this.board.set(h.slot, h.lease.validUntil);
        this.on.extended(h);
      } else this.lose(h);
    });
  }

  private lose(h: Held): void {
    h.lost = true;
    if (h.running) this.board.set(h.slot, 0);
    this.on.lost(h);
  }
}
