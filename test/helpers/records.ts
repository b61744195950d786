/** What the dedup store holds for an id, read through the store (as `dedup-pool id show` reads it). */
import { DedupStore, connectRedis, keysFor, type IdState } from '../../src/index.js';
import type { TlsFiles } from '../../src/common/tls.js';

export async function idState(url: string, prefix: string, scope: string, id: string, opts: { dedupTtlMs?: number; tls?: TlsFiles } = {}): Promise<IdState> {
  // The record's time slots follow the window: read with the writer's --dedup-ttl.
  const store = new DedupStore([connectRedis(url, opts.tls)], { keys: keysFor(prefix, scope), lockTtlMs: 1000, dedupTtlMs: opts.dedupTtlMs ?? 24 * 3600_000 });
  try {
    for (let i = 0; i < 100 && !(await store.healthy()); i++) await new Promise((r) => setTimeout(r, 20));
    return await store.inspect(id);
  } finally {
    await store.close();
  }
}
