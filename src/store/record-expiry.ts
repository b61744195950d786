/**
 * The record hashes whose expiry this process has set, per instance (or cluster node),
 * in the current time slot. complete.lua is told, and skips that PEXPIREAT: the ids of a
 * batch fall in different buckets, so without this it costs a command per id.
 *
 * Forgotten every minute and whenever a connection is made again, so a hash that
 * vanished (Redis restarted empty, a flush, an eviction) gets its expiry back at its next
 * write within a minute. `dedup-pool id forget` never deletes a hash (forget.lua).
 */
import { monotonicMs } from '../common/clock.js';

const FORGET_EVERY_MS = 60_000;

export class RecordHashExpiry {
  private readonly nodes = new Map<string, { slot: number; tags: Set<string> }>();
  private forgotAt = monotonicMs();

  constructor(private readonly slotMs: () => number) {}

  /** The time slot current on this process's clock (the script checks it against Redis's). */
  slot(): number {
    if (monotonicMs() - this.forgotAt > FORGET_EVERY_MS) this.forgetAll();
    return Math.floor(Date.now() / this.slotMs());
  }

  /** The tags (record hash of each bucket) whose hash in `slot` on `node` has had its expiry set by this process. */
  expired(node: string, slot: number): Set<string> {
    let n = this.nodes.get(node);
    if (!n || n.slot !== slot) this.nodes.set(node, (n = { slot, tags: new Set() }));
    return n.tags;
  }

  forgetAll(): void {
    this.nodes.clear();
    this.forgotAt = monotonicMs();
  }
}
