/**
 * Which messages run alone in their replica, and for how long. A message that takes
 * its thread or process down must not take innocent neighbours with it every time,
 * but being redelivered or retried is no evidence of that: a drain hands everything
 * back redelivered, an outage retries everything. A message runs alone only on
 * evidence that it was in flight where something died:
 *
 * - before its begin: its retry carries HEADERS.suspect, set when its handler's
 *   thread died (or was terminated) with it;
 * - at its begin: its grant counter is past the attempts its headers account for, so
 *   an earlier grant ended with neither a release nor a retry (the replica holding it
 *   died, or lost the lease). The grant counter lives in Redis: any replica sees it.
 *
 * Alone is bounded: after `maxMs` waiting for the others to finish, or running alone,
 * the others start again, so no single message holds a replica's work for longer.
 */
import { HEADERS } from '../amqp/republish.js';

/** How long a message may wait to run alone, and then run alone: crashes come within a second or two of the start. */
export const ISOLATION_MAX_MS = 10_000;

type Headers = Record<string, unknown> | undefined;

/** Its last retry says its thread died with it. */
export function markedSuspect(headers: Headers): boolean {
  return headers?.[HEADERS.suspect] !== undefined;
}

/** Carries an attempt header: a retry of this pool's. */
export function isRetry(headers: Headers): boolean {
  return headers?.[HEADERS.attempt] !== undefined;
}

/** A grant counter past the attempts the headers account for: an earlier grant ended in a crash or a lost lease. */
export function crashedBefore(headers: Headers, fence: number): boolean {
  const attempts = Number(headers?.[HEADERS.attempt] ?? 0);
  return fence > (Number.isFinite(attempts) ? attempts : 0) + 1;
}

/** The replica's one message running alone, if any, with the bound on how long it holds the others. */
export class Isolation<T extends object> {
  private current: T | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly waitingSince = new WeakMap<T, number>();

  constructor(
    /** Called when a bound passes: whatever waits may start. */
    private readonly resume: () => void,
    readonly maxMs = ISOLATION_MAX_MS,
  ) {}

  /** Something runs alone now: nothing else starts. */
  get active(): boolean {
    return this.current !== undefined;
  }

  /**
   * `item` waits for the others to finish before it runs alone: true once it has
   * waited `maxMs` (a hung handler elsewhere must not hold it, nor everything behind it).
   */
  waitedEnough(item: T): boolean {
    const since = this.waitingSince.get(item);
    if (since === undefined) {
      this.waitingSince.set(item, performance.now());
      setTimeout(this.resume, this.maxMs).unref();
      return false;
    }
    return performance.now() - since >= this.maxMs;
  }

  start(item: T): void {
    this.current = item;
    this.waitingSince.delete(item);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.current = undefined;
      this.resume();
    }, this.maxMs);
    this.timer.unref();
  }

  /** `item` is settled, or will not run now: true if it was the one running alone. */
  end(item: T): boolean {
    if (this.current !== item) return false;
    this.current = undefined;
    clearTimeout(this.timer);
    return true;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.current = undefined;
  }
}
