/**
 * The bench's handler, shared by dedup-pool (on worker threads) and the baselines
 * (inline): some work of the configured kind, then one ledger line per execution,
 * which is how the bench counts executions and duplicate executions.
 *   BENCH_HANDLER     noop | cpu | io
 *   BENCH_HANDLER_MS  busy time (cpu) or wait (io)
 *   BENCH_LEDGER      file to append "<id> <epoch ms>" lines to
 *   BENCH_SINK        atomic modes: the effect, counted in the sink itself
 *                     (Redis-atomic: an INCR of <BENCH_SINK><id>; inbox: a row in table BENCH_SINK)
 */
import { openSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const kind = process.env.BENCH_HANDLER ?? 'noop';
const ms = Number(process.env.BENCH_HANDLER_MS ?? 0);
const ledger = process.env.BENCH_LEDGER;
// Held open for appends (one per thread): each line is one write(2), in the file even if the
// process is killed right after. Opening the file per line cost 13 us a message, in every row.
const ledgerFd = ledger ? openSync(ledger, 'a') : undefined;

export async function work(): Promise<void> {
  if (kind === 'cpu') {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // busy: CPU-bound work
    }
  } else if (kind === 'io') {
    await sleep(ms);
  }
}

export function record(id: string): void {
  if (ledgerFd !== undefined) writeSync(ledgerFd, `${id} ${Date.now()}\n`);
}

interface Ctx {
  redis?(command: string, key: string, ...args: (string | number)[]): void;
  db?: { query(sql: string, params: unknown[]): Promise<unknown> };
}

const sink = process.env.BENCH_SINK;

export default async function handle(message: { id: string }, ctx: Ctx = {}): Promise<void> {
  await work();
  if (sink && ctx.db) await ctx.db.query(`INSERT INTO ${sink} (id) VALUES ($1)`, [message.id]);
  else if (sink && ctx.redis) ctx.redis('INCRBY', `${sink}${message.id}`, 1);
  record(message.id);
}
