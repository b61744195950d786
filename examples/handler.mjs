// An example handler: the body is the article's {"message_id": ..., "data": ...}.
// Its return value is kept in the completion record (when small).
import { createHash } from 'node:crypto';

export default async function handle(message, ctx) {
  // Stand-in for real work: some CPU, which is what worker threads are for.
  createHash('sha256').update(JSON.stringify(message.body)).digest('hex');
  if (ctx.signal.aborted) throw ctx.signal.reason; // the lease was lost: stop before any side effect
  ctx.log.debug({ data: message.body.data }, 'processed');
  return { ok: true, fence: ctx.fencingToken };
}
