/**
 * The record layout guard. Where a completion record is written and looked up
 * depends on settings every replica of a prefix and scope must share: the dedup
 * window (a record's time slot is half of it, a quarter in layouts of earlier versions), the number of buckets (an id's
 * hash tag, which names its lease too) and the record format. The first replica to
 * start stores its settings in Redis (`<prefix>:<scope>:layout`, on every master);
 * one whose settings differ refuses to start, naming both values and how to change.
 */
import type { Cluster, Redis } from 'ioredis';
import { StoreUnavailableError, UnsupportedServerError } from '../common/errors.js';
import { formatDuration } from '../common/duration.js';
import { SLOTS_PER_WINDOW, type DedupStore } from './dedup-store.js';
import { LAYOUT_FORMAT, keysFor, scopeOf, type Keys } from './keys.js';
import type { PoolOptions } from '../common/options.js';

export { LAYOUT_FORMAT };

/** The earliest stored format this version still runs (its lease keys: leases.lib.lua). */
const OLDEST_FORMAT = 1;

export interface Layout {
  format: number;
  windowMs: number;
  slotMs: number;
  buckets: number;
  /** When it was stored (Redis's clock, ms). */
  setAt?: number;
  /** Until when (Redis's clock, ms) records written by earlier versions may exist: they are read until then. */
  compatUntil?: number;
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

/** A layout from the script's reply (format, window, slot, buckets, set at, compat until); undefined when none is stored. */
export function parseLayout(reply: readonly (string | null)[]): Layout | undefined {
  const [format, windowMs, slotMs, buckets, setAt, compatUntil] = reply.map((v) => (v === null || v === undefined ? undefined : Number(v)));
  if (windowMs === undefined) return undefined;
  return { format: format ?? 0, windowMs, slotMs: slotMs ?? 0, buckets: buckets ?? 0, ...(setAt !== undefined && { setAt }), ...(compatUntil !== undefined && { compatUntil }) };
}

/** Longest the first replica of a scope searches for keys of earlier versions (SCAN), ms. */
const SCAN_LIMIT_MS = 10_000;

/**
 * Whether keys of an earlier version may be under the prefix: records of the scope, or
 * of versions before scopes. Asked only where no layout is stored yet (a new scope, or
 * one an earlier version ran): SCAN over the whole keyspace, once. Unsure (too long, an
 * error) counts as yes: the cost is a GET or two per new id for one window.
 */
async function earlierKeysExist(client: DedupStore['clients'][number], keys: Keys, prefix: string): Promise<boolean> {
  const nodes: Redis[] = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
  const deadline = Date.now() + SCAN_LIMIT_MS;
  for (const node of nodes) {
    let cursor = '0';
    do {
      if (Date.now() > deadline) return true;
      const [next, found] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (found.some((k) => (k.startsWith(keys.base) && k !== keys.layout) || k.startsWith(`${prefix}:done:`))) return true;
      cursor = next;
    } while (cursor !== '0');
  }
  return false;
}

/** The stored layout's answer on each instance (undefined: none stored); throws when fewer than a quorum answered. */
export async function callLayout(store: DedupStore, keys: Keys, want: Layout, expectedWindowMs: number | '', prefix?: string): Promise<(Layout | undefined)[]> {
  const answers = await Promise.allSettled(
    store.clients.map(async (c) => {
      // Claiming a new scope: did an earlier version leave records here? (See records.lib.lua.)
      const fresh = prefix !== undefined && expectedWindowMs === '' && !(await c.hexists(keys.layout, 'window'));
      const earlier = fresh ? await earlierKeysExist(c, keys, prefix).catch(() => true) : true;
      return c.dedupLayout(keys.layout, want.format, want.windowMs, want.slotMs, want.buckets, expectedWindowMs, earlier ? '1' : '0');
    }),
  );
  const failed = answers.filter((a) => a.status === 'rejected');
  if (answers.length - failed.length < store.quorum) {
    throw new StoreUnavailableError(`the record layout could not be read: ${failed.map((f) => String((f as PromiseRejectedResult).reason)).join('; ')}`);
  }
  return answers.map((a) => (a.status === 'fulfilled' ? parseLayout(a.value) : undefined));
}

/**
 * Store `want` where no layout is stored yet, and compare it with the layout stored on
 * every instance that answers. Throws a LayoutMismatchError on the first difference.
 * Returns what the store must use: the stored slot length (layouts of earlier versions
 * have shorter slots), until when earlier versions' records are read (the latest), and
 * the stored format (an earlier version's keeps its lease keys).
 */
export async function claimLayout(store: DedupStore, keys: Keys, want: Layout, place: LayoutPlace): Promise<{ slotMs: number; compatUntil: number; format: number }> {
  const stored = await callLayout(store, keys, want, '', place.prefix);
  const use = { slotMs: want.slotMs, compatUntil: 0, format: want.format };
  stored.forEach((s, i) => {
    if (!s) return void (use.compatUntil = Number.POSITIVE_INFINITY);
    const err = layoutMismatch(s, want, place, place.names[i] ?? `instance ${i}`);
    if (err) throw err;
    use.slotMs = s.slotMs;
    // Instances that disagree (one restarted empty and was claimed anew): the earlier format, which every version running there knows.
    use.format = Math.min(use.format, s.format);
    use.compatUntil = Math.max(use.compatUntil, s.compatUntil ?? Number.POSITIVE_INFINITY);
  });
  return use;
}

/** A replica's start-up check: its options' layout against the stored one (stored first if none is); the store then uses it. */
export async function guardLayout(store: DedupStore, opts: PoolOptions, names: readonly string[]): Promise<void> {
  const scope = scopeOf(opts);
  store.useLayout(await claimLayout(store, keysFor(opts.prefix, scope), layoutOf(opts), { prefix: opts.prefix, queue: opts.queue, scope, names }));
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
  // A scope stored by an earlier version runs with its format (claimLayout); one stored by a later version does not.
  if (stored.format < OLDEST_FORMAT || stored.format > want.format) {
    const later = stored.format > want.format ? ' It was stored by a later dedup-pool version: run that one, or give this one a new --prefix' : ' Records of another dedup-pool version need a new --prefix';
    return new LayoutMismatchError('prefix', `${head('record format', String(want.format), String(stored.format))}${later} (docs/layout.md).`);
  }
  if (stored.buckets !== want.buckets) {
    return new LayoutMismatchError(
      'dedup-buckets',
      `${head('--dedup-buckets', String(want.buckets), String(stored.buckets))} Start with --dedup-buckets ${stored.buckets}; records cannot move to other buckets (only a digest of each id is kept), so other buckets need a new --prefix or --dedup-scope (docs/layout.md).`,
    );
  }
  // The slot length may differ: a replica uses the stored one (earlier versions had 4 slots a window).
  if (stored.windowMs !== want.windowMs) {
    const [mine, theirs] = [formatDuration(want.windowMs), formatDuration(stored.windowMs)];
    const scopeFlag = place.scope === place.queue ? '' : ` --dedup-scope ${place.scope}`;
    return new LayoutMismatchError(
      'dedup-ttl',
      `${head('--dedup-ttl', mine, theirs)} Start with --dedup-ttl ${theirs}, or change the window: stop every replica of the ${scope}, run dedup-pool layout set --queue ${place.queue} --prefix ${place.prefix}${scopeFlag} --dedup-ttl ${mine} (with the pool's --redis), then start them with --dedup-ttl ${mine} (docs/layout.md).`,
    );
  }
  return undefined;
}

