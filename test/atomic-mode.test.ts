/**
 * A handler's declared atomic mode against the options: the pure check, and the
 * real CLI refusing at start-up, before any replica starts or any message is taken.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { atomicModeProblem } from '../src/replica/atomic-mode.js';
import { spawnCli } from './helpers/processes.js';

const REDIS_ATOMIC = fileURLToPath(new URL('../examples/redis-atomic.mjs', import.meta.url));
const INBOX = fileURLToPath(new URL('../examples/inbox.mjs', import.meta.url));
const single = { handler: 'h.mjs', redisUrls: ['redis://a:6379'] };

describe('declared atomic mode', () => {
  it('Redis-atomic runs on one Redis only; the inbox needs --inbox; no declaration, no check', () => {
    expect(atomicModeProblem({ atomic: 'redis' }, single)).toBeUndefined();
    expect(atomicModeProblem({ atomic: 'redis' }, { ...single, redisUrls: ['redis://a:6379', 'redis://b:6379', 'redis://c:6379'] })).toBe(
      "--handler h.mjs declares atomic = 'redis' (Redis-atomic mode), which needs a single Redis: with 3 independent masters each would apply the effects on its own, so they cannot be applied exactly once; use one --redis instance, or the Postgres inbox (--inbox), which works with every store",
    );
    expect(atomicModeProblem({ atomic: 'redis' }, { ...single, redisCluster: ['redis://a:7000'] })).toMatch(/^--handler h\.mjs declares atomic = 'redis' \(Redis-atomic mode\), which needs a single Redis: on a Redis Cluster/);
    expect(atomicModeProblem({ atomic: 'inbox' }, single)).toBe("--handler h.mjs declares atomic = 'inbox' (Postgres inbox mode) but no inbox database is given: add --inbox postgres://... (env DEDUP_INBOX_URL)");
    expect(atomicModeProblem({ atomic: 'inbox' }, { ...single, redisCluster: ['redis://a:7000'], inboxUrl: 'postgres://x/db' })).toBeUndefined();
    expect(atomicModeProblem({}, { ...single, redisCluster: ['redis://a:7000'] })).toBeUndefined();
    expect(atomicModeProblem({ atomic: 'redis' }, { ...single, inboxUrl: 'postgres://x/db' })).toMatch(
      /^--handler h\.mjs declares atomic = 'redis' \(Redis-atomic mode\) but --inbox is given: its Redis effects would commit apart from the inbox row/,
    );
  });

  it.each([
    ['a Redis-atomic handler on three masters', REDIS_ATOMIC, ['--redis', 'redis://127.0.0.1:6379,redis://127.0.0.1:6380,redis://127.0.0.1:6381'], /declares atomic = 'redis' \(Redis-atomic mode\), which needs a single Redis: with 3 independent masters/],
    ['an inbox handler without --inbox', INBOX, [], /declares atomic = 'inbox' \(Postgres inbox mode\) but no inbox database is given/],
    ['a Redis-atomic handler with --inbox', REDIS_ATOMIC, ['--inbox', 'postgres://127.0.0.1:5432/test'], /declares atomic = 'redis' \(Redis-atomic mode\) but --inbox is given/],
  ])('dedup-pool start refuses %s: exit 2, no replica started', async (_what, handler, flags, message) => {
    const p = spawnCli(['start', '--queue', 'test.atomic-mode.unused', '--handler', handler, '--admin', '127.0.0.1:0', '--threads', '1', ...flags]);
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toMatch(message);
    expect(p.logs.some((l) => l.msg === 'replica ready' || l.msg === 'replica died')).toBe(false);
  });
});
