/**
 * The bench's handler, shared by dedup-pool (on worker threads) and the baselines
 * (inline): some work of the configured kind, then one ledger line per execution,
 * which is how the bench counts executions and duplicate executions.
 *   BENCH_HANDLER     noop | cpu | io
 *   BENCH_HANDLER_MS  busy time (cpu) or wait (io)
 *   BENCH_LEDGER      file to append "<id> <epoch ms>" lines to
 */
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const kind = process.env.BENCH_HANDLER ?? 'noop';
const ms = Number(process.env.BENCH_HANDLER_MS ?? 0);
const ledger = process.env.BENCH_LEDGER;

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
  if (ledger) appendFileSync(ledger, `${id} ${Date.now()}\n`);
}

export default async function handle(message: { id: string }): Promise<void> {
  await work();
  record(message.id);
}
