/**
 * The record layout guard. Where a completion record is written and looked up
 * depends on settings every replica of a prefix and scope must share: the dedup
 * window (a record's time slot is a quarter of it), the number of buckets (an id's
 * hash tag, which names its lease too) and the record format. The first replica to
 * start stores its settings in Redis (`<prefix>:<scope>:layout`, on every master);
 * one whose settings differ refuses to start, naming both values and how to change.
 */
import { StoreUnavailableError, UnsupportedServerError } from '../common/errors.js';
import { formatDuration } from '../common/duration.js';
import { SLOTS_PER_WINDOW, type DedupStore } from './dedup-store.js';
import { keysFor, scopeOf, type Keys } from './keys.js';
import type { PoolOptions } from '../common/options.js';

/** The version of the record format (digests, key names, slots per window); raised when one changes. */
export const LAYOUT_FORMAT = 1;

export interface Layout {
  format: number;
  windowMs: number;
  slotMs: number;
  buckets: number;
  /** When it was stored (Redis's clock, ms). */
  setAt?: number;
}

/** Where the guard looks, for its messages: the pool's own options and its instances' names (redacted). */
export interface LayoutPlace {
  prefix: string;
  queue: string;
  scope: string;
  names: readonly string[];
}

export function layoutOf(opts: { dedupTtlMs: number; dedupBuckets: number }): Layout {
  return { format: LAYOUT_FORMAT, windowMs: opts.dedupTtlMs, slotMs: Math.ceil(opts.dedupTtlMs / SLOTS_PER_WINDOW), buckets: opts.dedupBuckets };
}

/** A layout from the script's reply (format, window, slot, buckets, set at); undefined when none is stored. */
export function parseLayout(reply: readonly (string | null)[]): Layout | undefined {
  const [format, windowMs, slotMs, buckets, setAt] = reply.map((v) => (v === null ? undefined : Number(v)));
  if (windowMs === undefined) return undefined;
  return { format: format ?? 0, windowMs, slotMs: slotMs ?? 0, buckets: buckets ?? 0, ...(setAt !== undefined && { setAt }) };
}

/** The stored layout's answer on each instance (undefined: none stored); throws when fewer than a quorum answered. */
export async function callLayout(store: DedupStore, keys: Keys, want: Layout, expectedWindowMs: number | ''): Promise<(Layout | undefined)[]> {
  const answers = await Promise.allSettled(store.clients.map((c) => c.dedupLayout(keys.layout, want.format, want.windowMs, want.slotMs, want.buckets, expectedWindowMs)));
  const failed = answers.filter((a) => a.status === 'rejected');
  if (answers.length - failed.length < store.quorum) {
    throw new StoreUnavailableError(`the record layout could not be read: ${failed.map((f) => String((f as PromiseRejectedResult).reason)).join('; ')}`);
  }
  return answers.map((a) => (a.status === 'fulfilled' ? parseLayout(a.value) : undefined));
}

/**
 * Store `want` where no layout is stored yet, and compare it with the layout stored on
 * every instance that answers. Throws a LayoutMismatchError on the first difference.
 */
export async function claimLayout(store: DedupStore, keys: Keys, want: Layout, place: LayoutPlace): Promise<void> {
  const stored = await callLayout(store, keys, want, '');
  stored.forEach((s, i) => {
    if (s) {
      const err = layoutMismatch(s, want, place, place.names[i] ?? `instance ${i}`);
      if (err) throw err;
    }
  });
}

/** A replica's start-up check: its options' layout against the stored one (stored first if none is). */
export async function guardLayout(store: DedupStore, opts: PoolOptions, names: readonly string[]): Promise<void> {
  const scope = scopeOf(opts);
  await claimLayout(store, keysFor(opts.prefix, scope), layoutOf(opts), { prefix: opts.prefix, queue: opts.queue, scope, names });
}

/** The settings of a prefix and scope differ from a replica's: starting would run ids twice. */
export class LayoutMismatchError extends UnsupportedServerError {
  constructor(option: string, message: string) {
    super(option, message, 'LAYOUT_MISMATCH');
  }
}

/** The error for the first setting in which `want` differs from `stored`, or undefined when they agree. */
export function layoutMismatch(stored: Layout, want: Layout, place: LayoutPlace, where: string): LayoutMismatchError | undefined {
  const scope = place.scope === place.queue ? `queue ${place.queue}` : `scope ${place.scope}`;
  const head = (what: string, mine: string, theirs: string): string =>
    `${what} ${mine} differs from the record layout stored for prefix ${place.prefix}, ${scope} on ${where}: ${theirs}${stored.setAt ? ` (stored ${new Date(stored.setAt).toISOString()})` : ''}. Records written under one are not found under the other, so ids would run twice.`;
  if (stored.format !== want.format) {
    return new LayoutMismatchError('prefix', `${head('record format', String(want.format), String(stored.format))} Records of another dedup-pool version need a new --prefix (docs/layout.md).`);
  }
  if (stored.buckets !== want.buckets) {
    return new LayoutMismatchError(
      'dedup-buckets',
      `${head('--dedup-buckets', String(want.buckets), String(stored.buckets))} Start with --dedup-buckets ${stored.buckets}; records cannot move to other buckets (only a digest of each id is kept), so other buckets need a new --prefix or --dedup-scope (docs/layout.md).`,
    );
  }
  if (stored.windowMs !== want.windowMs || stored.slotMs !== want.slotMs) {
    const [mine, theirs] = [formatDuration(want.windowMs), formatDuration(stored.windowMs)];
    const scopeFlag = place.scope === place.queue ? '' : ` --dedup-scope ${place.scope}`;
    return new LayoutMismatchError(
      'dedup-ttl',
      `${head('--dedup-ttl', mine, theirs)} Start with --dedup-ttl ${theirs}, or change the window: stop every replica of the ${scope}, run dedup-pool layout set --queue ${place.queue} --prefix ${place.prefix}${scopeFlag} --dedup-ttl ${mine} (with the pool's --redis), then start them with --dedup-ttl ${mine} (docs/layout.md).`,
    );
  }
  return undefined;
}

