/**
 * Changing the dedup window of a prefix and scope (`dedup-pool layout set`), with every
 * replica of the scope stopped: the records in the old layout's time slots are copied
 * into the new layout's slots, each hash living at least as long as the old one would,
 * then the new layout is stored. Lookups under the new layout find every record the old
 * ones would have found within the new window, so no id runs twice. A layout stored by an
 * earlier version moves to this version's format too: its leases and grant counters into
 * one key per id (leases.lib.lua). See docs/layout.md.
 *
 * Buckets cannot change this way: a record keeps only a digest of its id, which does
 * not tell its bucket under another count.
 */
import { Cluster, type Redis } from 'ioredis';
import { ConfigError } from '../common/errors.js';
import type { DedupStore } from './dedup-store.js';
import type { Keys } from './keys.js';
import { parseLayout, type Layout, type LayoutPlace } from './layout.js';
import type { ScriptedCluster, ScriptedRedis } from './redis-clients.js';

/** What `layout set` did on one instance. */
export interface LayoutChange {
  instance: string;
  from: Layout;
  to: Layout;
  /** Records copied into the new layout's slots. */
  records: number;
  /** Ids whose lease or grant counter moved to the new format's keys. */
  leases: number;
}

type Client = ScriptedRedis | ScriptedCluster;

/** Records per script call when copying (a slot's hash of one bucket holds a few thousand at most). */
const COPY_CHUNK = 500;

/** The layout stored on one instance (undefined where none is). */
async function readLayout(c: Client, keys: Keys): Promise<Layout | undefined> {
  return parseLayout(await c.hmget(keys.layout, 'format', 'window', 'slot', 'buckets', 'set_at', 'compat_until'));
}

/** The layout stored on each instance (undefined where none is). */
export async function readLayouts(store: DedupStore, keys: Keys): Promise<(Layout | undefined)[]> {
  return Promise.all(store.clients.map((c) => readLayout(c, keys)));
}

/**
 * A tool's store (id show, id forget) reads a scope as its replicas do: with the stored
 * slot length and format, where a layout is stored (an instance that does not answer is skipped).
 */
export async function followStoredLayout(store: DedupStore, keys: Keys): Promise<void> {
  const read = await Promise.all(store.clients.map((c) => readLayout(c, keys).catch(() => undefined)));
  const stored = read.filter((l): l is Layout => l !== undefined);
  if (stored.length > 0) store.useLayout({ slotMs: stored[0]!.slotMs, format: Math.min(...stored.map((l) => l.format)) });
}

/**
 * Change the stored window to `to`'s on every instance (all must answer). Refused while
 * a replica of the scope is connected, when no layout is stored yet, and for another
 * bucket count or record format. Done again after a failure, it finishes the change.
 */
export async function changeLayout(store: DedupStore, keys: Keys, to: Layout, place: LayoutPlace & { replicaName: string }): Promise<LayoutChange[]> {
  const stored = await readLayouts(store, keys);
  stored.forEach((from, i) => refuseChange(from, to, place, place.names[i] ?? `instance ${i}`));
  const open = await connectedReplicas(store, place.replicaName, place.names);
  if (open.length > 0) {
    throw new ConfigError(
      'layout',
      `replicas of prefix ${place.prefix}, scope ${place.scope} are still connected (${open.join(', ')}): stop every one of them first; a replica running with the old window while others use the new one would run ids twice`,
    );
  }
  const out: LayoutChange[] = [];
  for (const [i, c] of store.clients.entries()) {
    const from = stored[i]!;
    const records = from.windowMs === to.windowMs ? 0 : await copyRecords(c, keys, from, to);
    const leases = from.format === to.format ? 0 : await moveLeases(c, keys.withFormat(from.format), keys.withFormat(to.format), to.windowMs);
    const now = parseLayout(await c.dedupLayout(keys.layout, to.format, to.windowMs, to.slotMs, to.buckets, from.windowMs, '1'));
    if (now?.windowMs !== to.windowMs) throw new ConfigError('layout', `the record layout on ${place.names[i]} was changed by someone else meanwhile (it is now --dedup-ttl ${now?.windowMs}ms): run layout set again`);
    out.push({ instance: place.names[i] ?? `instance ${i}`, from, to: now, records, leases });
  }
  return out;
}

function refuseChange(from: Layout | undefined, to: Layout, place: LayoutPlace, where: string): asserts from is Layout {
  const what = `prefix ${place.prefix}, scope ${place.scope} on ${where}`;
  if (!from) {
    throw new ConfigError('layout', `no record layout is stored for ${what} yet: a replica stores its own when it starts, so start the pool with the --dedup-ttl you want (docs/layout.md)`);
  }
  if (from.format > to.format) throw new ConfigError('prefix', `the records of ${what} have format ${from.format}, stored by a later version (this one writes ${to.format}): run layout set with that version (docs/layout.md)`);
  if (from.buckets !== to.buckets) {
    throw new ConfigError('dedup-buckets', `--dedup-buckets ${to.buckets} differs from the ${from.buckets} stored for ${what}: records cannot move to other buckets (only a digest of each id is kept); other buckets need a new --prefix or --dedup-scope (docs/layout.md)`);
  }
}

/** The masters behind a client: itself, or every master of a cluster. */
function mastersOf(c: Client): Redis[] {
  return c instanceof Cluster ? c.nodes('master') : [c];
}

/** "<instance>: N connection(s)" for each instance where replicas of the scope are connected (CLIENT LIST). */
async function connectedReplicas(store: DedupStore, replicaName: string, names: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const [i, c] of store.clients.entries()) {
    let n = 0;
    for (const node of mastersOf(c)) {
      const list = String(await node.call('CLIENT', 'LIST'));
      n += list.split('\n').filter((line) => line.includes(` name=${replicaName} `)).length;
    }
    if (n > 0) out.push(`${names[i] ?? `instance ${i}`}: ${n} connection(s)`);
  }
  return out;
}

/** A Redis glob matching `text` literally. */
const globLiteral = (text: string): string => text.replace(/[*?[\]\\]/g, (ch) => `\\${ch}`);

/** Every key starting with `prefix` on one node (SCAN: a key may come twice). */
async function* keysUnder(node: Redis, prefix: string): AsyncGenerator<string> {
  let cursor = '0';
  do {
    const [next, found] = await node.scan(cursor, 'MATCH', `${globLiteral(prefix)}*`, 'COUNT', 1000);
    cursor = next;
    yield* found;
  } while (cursor !== '0');
}

/**
 * Copy every record hash of the old layout into the new layout's slot holding the old
 * slot's end (the latest its records can have been written), never past the current
 * slot: lookups see it for at least the new window from then. One bucket at a time,
 * each read whole before anything of it is written (a new slot number may equal an old one).
 */
async function copyRecords(c: Client, keys: Keys, from: Layout, to: Layout): Promise<number> {
  const rec = keys.prefixes[0];
  let copied = 0;
  for (const node of mastersOf(c)) {
    const [s, us] = await node.time();
    const current = Math.floor((Number(s) * 1000 + Math.floor(Number(us) / 1000)) / to.slotMs);
    const byBucket = new Map<string, { key: string; slot: number }[]>();
    for await (const key of keysUnder(node, rec)) {
      const m = /^(\{\d+\}):(\d+)$/.exec(key.slice(rec.length));
      if (!m) continue;
      const list = byBucket.get(m[1]!) ?? [];
      if (!list.some((x) => x.key === key)) list.push({ key, slot: Number(m[2]) });
      byBucket.set(m[1]!, list);
    }
    for (const [tag, hashes] of byBucket) {
      const targets = new Map<string, { fields: string[]; until: number }>();
      for (const h of hashes) {
        const records = await c.hgetall(h.key);
        const until = Number(await c.call('PEXPIRETIME', h.key));
        const fields = Object.entries(records).flat();
        if (fields.length === 0) continue;
        const slot = Math.min(Math.floor(((h.slot + 1) * from.slotMs - 1) / to.slotMs), current);
        const t = targets.get(`${rec}${tag}:${slot}`) ?? { fields: [], until: 0 };
        t.fields.push(...fields);
        t.until = Math.max(t.until, until);
        targets.set(`${rec}${tag}:${slot}`, t);
      }
      for (const [key, t] of targets) {
        // A hash with no expiry is not one of ours; give the copy the new layout's lifetime.
        const until = t.until > 0 ? t.until : (current + 1) * to.slotMs + to.windowMs;
        for (let j = 0; j < t.fields.length; j += COPY_CHUNK * 2) copied += await c.dedupLayoutMove(key, until, ...t.fields.slice(j, j + COPY_CHUNK * 2));
      }
    }
  }
  return copied;
}

/**
 * Move every lease and grant counter of format `from`'s two keys per id into `to`'s one key
 * (layout-leases.lua), one id at a time. Found by SCAN on every master; run again after a
 * failure, it moves what is left.
 */
async function moveLeases(c: Client, from: Keys, to: Keys, windowMs: number): Promise<number> {
  const [lock, fence] = [from.prefixes[2], from.prefixes[3]];
  const ids = new Set<string>();
  for (const node of mastersOf(c)) {
    for (const prefix of [lock, fence]) for await (const key of keysUnder(node, prefix)) ids.add(key.slice(prefix.length));
  }
  let moved = 0;
  for (const id of ids) moved += await c.dedupLayoutLeases(`${lock}${id}`, `${fence}${id}`, `${to.prefixes[2]}${id}`, windowMs);
  return moved;
}
