/**
 * Fencing for sinks that reject stale writers. A handler passes `ctx.fencingToken`
 * with each write, and the sink keeps the highest token it has seen:
 *
 *   INSERT INTO accounts (id, balance, fence) VALUES ($1, $2, $3)
 *   ON CONFLICT (id) DO UPDATE SET balance = EXCLUDED.balance, fence = EXCLUDED.fence
 *   WHERE accounts.fence < EXCLUDED.fence
 *
 * A writer whose lease was taken over carries a lower token than the one that took
 * over, so its write matches no row: `requireFresh` turns that into a StaleTokenError,
 * which fails the handler instead of letting it believe the write happened.
 */
import { StaleTokenError } from '../common/errors.js';

export function requireFresh(result: { rowCount: number | null }, token: number, what?: string): void {
  if (!result.rowCount) throw new StaleTokenError(token, what);
}
