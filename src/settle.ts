import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

/** True when every promise settled within `ms`; the timer never outlives the wait. */
export async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<boolean> {
  const timeout = new AbortController();
  const timer = sleep(ms, false, { signal: timeout.signal }).catch(() => false);
  const done = Promise.allSettled(promises).then(() => true);
  const finished = await Promise.race([done, timer]);
  timeout.abort();
  return finished;
}

/** Every in-flight message listens on the drain signal: far more than the default limit of 10. */
export function withoutListenerLimit(c: AbortController): AbortController {
  setMaxListeners(0, c.signal);
  return c;
}
