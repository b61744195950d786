/**
 * dedup-pool layout show|set --queue Q: the record layout settings stored for a prefix
 * and scope (the dedup window, buckets, record format), and changing the window of a
 * stopped pool without running any id twice (docs/layout.md).
 */
import { openStore } from '../store/open-store.js';
import { ConfigError } from '../common/errors.js';
import { formatDuration } from '../common/duration.js';
import { redactUrl } from '../common/logger.js';
import { keysFor, replicaClientName, scopeOf } from '../store/keys.js';
import { layoutOf, type Layout } from '../store/layout.js';
import { changeLayout, readLayouts } from '../store/layout-change.js';
import { loadTls } from '../common/tls.js';
import { optionFlag } from './pool-flags.js';
import { STORE_SPECS, connected, storeOptions } from './id.js';
import { EXIT, type Command } from './types.js';

function describe(l: Layout | undefined): string {
  if (!l) return 'none stored (the first replica to start stores its own)';
  const at = l.setAt ? `, stored ${new Date(l.setAt).toISOString()}` : '';
  return `--dedup-ttl ${formatDuration(l.windowMs)} (time slots of ${formatDuration(l.slotMs)}), --dedup-buckets ${l.buckets}, record format ${l.format}${at}`;
}

export const layout: Command = {
  name: 'layout',
  summary: 'show the record layout stored for a queue or scope, or change its dedup window (pool stopped)',
  usage: 'layout show --queue Q [--json]\n  dedup-pool layout set --queue Q --dedup-ttl DURATION',
  about: `The dedup window and bucket count decide where completion records are written and
looked up, so every replica of a prefix and scope must share them: the first replica to
start stores its own in Redis, and one whose settings differ refuses to start (exit 2).
show: the stored settings on each Redis instance.
set: change the window. Stop every replica of the scope first (refused while one is
connected); the records of the old window are copied so they are still found, then the
new window is stored; start the replicas with the new --dedup-ttl. The bucket count
cannot change this way (docs/layout.md). A layout stored by an earlier version moves to
this version's format as well (its window given again keeps it).
Give the pool's own --queue, --prefix, --dedup-scope and --redis (or --redis-cluster).

Exit codes: 0 done; 1 Redis unreachable; 2 bad usage, or the change refused.`,
  flags: [...STORE_SPECS.map((s) => optionFlag(s)), { name: 'json', type: 'boolean', doc: 'show: print the layouts as JSON' }],
  positionals: 1,
  async run({ flags, positionals }, env: NodeJS.ProcessEnv = process.env): Promise<number> {
    const [action] = positionals;
    if (action !== 'show' && action !== 'set') throw new ConfigError('layout', 'expected "layout show" or "layout set --dedup-ttl DURATION" (dedup-pool layout --help)');
    if (action === 'set' && flags['dedup-ttl'] === undefined && env.DEDUP_TTL === undefined) throw new ConfigError('dedup-ttl', 'layout set needs the new window: --dedup-ttl DURATION (env DEDUP_TTL), e.g. --dedup-ttl 48h');
    const opts = storeOptions(flags, env);
    const scope = scopeOf(opts);
    const keys = keysFor(opts.prefix, scope);
    const names = (opts.redisCluster ?? opts.redisUrls).map(redactUrl);
    const store = openStore(opts, loadTls(opts));
    try {
      await connected(store, opts);
      const stored = await readLayouts(store, keys);
      if (action === 'show') {
        const out = stored.map((l, i) => ({ instance: names[i], layout: l ?? null }));
        process.stdout.write(flags.json ? `${JSON.stringify(out)}\n` : `record layout of prefix ${opts.prefix}, scope ${scope}:\n${out.map((o, i) => `  ${o.instance}: ${describe(stored[i])}\n`).join('')}`);
        return EXIT.OK;
      }
      // Unless given, the bucket count stays what is stored.
      const bucketsGiven = flags['dedup-buckets'] !== undefined || env.DEDUP_BUCKETS !== undefined;
      const to = layoutOf({ dedupTtlMs: opts.dedupTtlMs, dedupBuckets: bucketsGiven ? opts.dedupBuckets : (stored.find((l) => l)?.buckets ?? opts.dedupBuckets) });
      const changes = await changeLayout(store, keys, to, { prefix: opts.prefix, queue: opts.queue, scope, names, replicaName: replicaClientName(opts.prefix, scope) });
      for (const c of changes) {
        const format = c.from.format === c.to.format ? '' : `; format ${c.from.format} -> ${c.to.format}, ${c.leases} lease(s) and grant counter(s) moved to one key per id`;
        process.stdout.write(`${c.instance}: --dedup-ttl ${formatDuration(c.from.windowMs)} -> ${formatDuration(c.to.windowMs)}, ${c.records} record(s) copied to the new time slots${format}\n`);
      }
      process.stdout.write(`start the replicas with --dedup-ttl ${formatDuration(to.windowMs)}\n`);
      return EXIT.OK;
    } finally {
      await store.close();
    }
  },
};
