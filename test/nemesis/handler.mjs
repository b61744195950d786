// The nemesis handler. Every run appends 'start' and 'done' lines to the ledger named in the
// body, with the lease's fencing token, the pool (NEMESIS_POOL, inherited from the
// supervisor) and the process, so the checker can tie each execution to the faults that
// hit its pool or process. In Redis-atomic mode (body.data.sink set) it also describes its
// effect: one INCRBY per id and the fencing token pushed to a list, applied by the pool
// together with the completion record.
// body.data: { ledger, sleepMs?, sink? }
import { appendFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const POOL = process.env.NEMESIS_POOL ?? '?';

export default async function handle(message, ctx) {
  const d = message.body?.data ?? {};
  const line = (ev) =>
    appendFileSync(d.ledger, JSON.stringify({ ev, id: message.id, attempt: message.attempt, fence: ctx.fencingToken, pool: POOL, pid: process.pid, thread: threadId, t: Date.now() }) + '\n');
  line('start');
  // Ignores ctx.signal on purpose: a run that outlives its lease must be stopped by the pool.
  if (d.sleepMs) await sleep(d.sleepMs);
  if (d.sink) {
    ctx.redis('INCRBY', `${d.sink}n:${message.id}`, 1);
    ctx.redis('RPUSH', `${d.sink}f:${message.id}`, ctx.fencingToken);
  }
  line('done');
}
