/**
 * The scripts declare Redis 7 script flags (`#!lua flags=...`), which older
 * servers refuse at every call. A replica checks each server it will use once
 * connected, so an old one stops start-up with its name and version instead of
 * every batch failing as if Redis were down.
 */
import { Cluster } from 'ioredis';
import { UnsupportedServerError } from '../common/errors.js';
import type { DedupStore } from './dedup-store.js';

export const MIN_REDIS_VERSION = '7.0.0';

/** `redis_version` from an INFO reply. */
export function redisVersionOf(info: string): string | undefined {
  return /^redis_version:([^\r\n]+)/m.exec(info)?.[1]?.trim();
}

/** Whether `version` (x.y.z) is at least `min`. */
export function versionAtLeast(version: string, min = MIN_REDIS_VERSION): boolean {
  const a = version.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const b = min.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

/**
 * Throws an UnsupportedServerError naming every connected server older than Redis 7.0.
 * `names` are the instances' URLs (redacted) in the store's order; cluster nodes
 * are named host:port. Instances not connected now are not checked.
 */
export async function checkRedisVersions(store: DedupStore, names: readonly string[]): Promise<void> {
  const servers: { name: string; info: () => Promise<string> }[] = [];
  store.clients.forEach((c, i) => {
    if (c instanceof Cluster) for (const n of c.nodes('master')) servers.push({ name: `${n.options.host}:${n.options.port}`, info: () => n.info('server') });
    else if (c.status === 'ready') servers.push({ name: names[i] ?? `instance ${i}`, info: () => c.info('server') });
  });
  const old: string[] = [];
  await Promise.all(
    servers.map(async (s) => {
      const version = redisVersionOf(await s.info().catch(() => ''));
      if (version && !versionAtLeast(version)) old.push(`${s.name} runs Redis ${version}`);
    }),
  );
  if (old.length > 0) {
    const flag = store.mode === 'cluster' ? '--redis-cluster' : '--redis';
    throw new UnsupportedServerError(flag.slice(2), `${old.sort().join(', ')}; dedup-pool needs Redis ${MIN_REDIS_VERSION.replace(/\.0$/, '')} or later (its scripts use Redis 7 script flags): upgrade it or point ${flag} at a newer server`);
  }
}
