/**
 * Keeps a lease alive while its handler runs: extends it every third of its
 * length, and aborts the given controller the moment it is lost (extension refused, Redis
 * unreachable, or the local validity time passed first, e.g. after a long pause).
 */
import type { DedupStore, Lease } from './dedup-store.js';
import { LeaseLostError } from './errors.js';

export interface LeaseKeeper {
  /** The lease was lost (as opposed to the controller aborted for another reason). */
  readonly lost: boolean;
  stop(): void;
}

/**
 * `controller` is aborted with a LeaseLostError when the lease is lost; the caller
 * may abort it for its own reasons too (one controller per message keeps it cheap).
 */
export function keepLease(store: DedupStore, lease: Lease, lockTtlMs: number, controller: AbortController, onExtended?: (validUntil: number) => void): LeaseKeeper {
  let lost = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const lose = (): void => {
    lost = true;
    if (!controller.signal.aborted) controller.abort(new LeaseLostError(lease.id));
    stop();
  };
  const schedule = (): void => {
    if (stopped) return;
    const untilExpiry = lease.validUntil - Date.now();
    if (untilExpiry <= 0) return lose();
    timer = setTimeout(tick, Math.min(Math.max(1, lockTtlMs / 3), untilExpiry));
  };
  const tick = async (): Promise<void> => {
    if (stopped) return;
    if (Date.now() >= lease.validUntil) return lose();
    try {
      if (!(await store.extend(lease))) return lose();
    } catch {
      // A quorum is unreachable: the lease cannot be proven, so it is lost.
      return lose();
    }
    onExtended?.(lease.validUntil);
    schedule();
  };
  function stop(): void {
    stopped = true;
    if (timer) clearTimeout(timer);
  }

  schedule();
  return {
    get lost() {
      return lost;
    },
    stop,
  };
}
