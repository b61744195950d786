/**
 * A handler may declare its atomic mode (`export const atomic = 'redis'` or
 * `'inbox'`); start-up refuses a declared mode the options cannot honour, before
 * any message is taken. A handler that declares nothing is checked per message:
 * Redis effects on a store that cannot apply them are dead-lettered as BAD_EFFECT.
 */
import { ConfigError } from '../common/errors.js';
import type { PoolOptions } from '../common/options.js';
import { storeModeOf } from '../store/open-store.js';
import type { HandlerInfo } from '../threads/handler-module.js';

const INSTEAD = 'use one --redis instance, or the Postgres inbox (--inbox), which works with every store';

/** Why the options cannot run a handler that declares `info.atomic`, or undefined if they can. */
export function atomicModeProblem(info: HandlerInfo, opts: Pick<PoolOptions, 'handler' | 'redisUrls' | 'redisCluster' | 'inboxUrl'>): string | undefined {
  const declares = `--handler ${opts.handler} declares atomic = '${info.atomic}'`;
  const mode = storeModeOf(opts);
  if (info.atomic === 'redis') {
    if (mode === 'cluster') {
      return `${declares} (Redis-atomic mode), which needs a single Redis: on a Redis Cluster its effect keys can live on other masters than the id's record, so effects and record cannot commit in one script; ${INSTEAD}`;
    }
    if (mode === 'quorum') {
      return `${declares} (Redis-atomic mode), which needs a single Redis: with ${opts.redisUrls.length} independent masters each would apply the effects on its own, so they cannot be applied exactly once; ${INSTEAD}`;
    }
  }
  if (info.atomic === 'redis' && opts.inboxUrl) {
    return `${declares} (Redis-atomic mode) but --inbox is given: its Redis effects would commit apart from the inbox row, and a crash between the two loses them; drop --inbox, or write through ctx.db and declare atomic = 'inbox'`;
  }
  if (info.atomic === 'inbox' && !opts.inboxUrl) {
    return `${declares} (Postgres inbox mode) but no inbox database is given: add --inbox postgres://... (env DEDUP_INBOX_URL)`;
  }
  return undefined;
}

export function checkAtomicMode(info: HandlerInfo, opts: Parameters<typeof atomicModeProblem>[1]): void {
  const problem = atomicModeProblem(info, opts);
  if (problem) throw new ConfigError('handler', problem);
}
