/** The atomic modes' sinks: where the bench's handler writes its effect, so effects are counted in the sink itself. */
import type { Redis } from 'ioredis';
import pg from 'pg';
import { forEachKeys } from './services.js';

export interface Sink {
  name: string;
  /** Effects applied beyond the first, summed over ids. */
  duplicates(redis: Redis): Promise<number>;
  drop(redis: Redis): Promise<void>;
}

/** Where an atomic mode's handler writes its effect, so the bench can count effects in the sink itself. */
export async function prepareSink(mode: 'plain' | 'redis-atomic' | 'pg-inbox', tag: string, pgUrl: string): Promise<Sink | undefined> {
  if (mode === 'redis-atomic') {
    const name = `benchsink:${tag}:`;
    return {
      name,
      async duplicates(redis) {
        let extra = 0;
        await forEachKeys(redis, `${name}*`, async (keys) => {
          for (const v of await redis.mget(keys)) extra += Math.max(0, Number(v) - 1);
        });
        return extra;
      },
      drop: (redis) => forEachKeys(redis, `${name}*`, (keys) => redis.unlink(...keys)),
    };
  }
  if (mode === 'pg-inbox') {
    const name = `bench_sink_${tag}`;
    const db = new pg.Client({ connectionString: pgUrl });
    await db.connect();
    await db.query(`CREATE TABLE ${name} (id text NOT NULL)`);
    return {
      name,
      async duplicates() {
        const res = await db.query(`SELECT coalesce(sum(n - 1), 0) AS extra FROM (SELECT count(*) AS n FROM ${name} GROUP BY id) t`);
        return Number(res.rows[0].extra);
      },
      async drop() {
        await db.query(`DROP TABLE ${name}`);
        await db.end();
      },
    };
  }
  return undefined;
}
