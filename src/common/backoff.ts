/** Delays that grow, with jitter so that many waiters do not come back together. */

/** Exponential backoff with ±20% jitter, so retries of a failed batch do not return together. */
export function retryDelay(attempt: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (0.8 + Math.random() * 0.4));
}

/** Reconnect delays: 100 ms doubling to 10 s, ±20% jitter so replicas do not reconnect in step. */
export function reconnectDelay(attempt: number): number {
  return Math.round(Math.min(10_000, 100 * 2 ** attempt) * (0.8 + Math.random() * 0.4));
}
