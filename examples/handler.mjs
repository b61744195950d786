// An example handler: the body is the article's {"message_id": ..., "data": ...}.
// Its return value is kept in the completion record (when small).
import { setTimeout as sleep } from 'node:timers/promises';

export default async function handle(message, ctx) {
  await sleep(2, undefined, { signal: ctx.signal }); // stand-in for real work
  ctx.log.debug({ data: message.body.data }, 'processed');
  return { ok: true, fence: ctx.fencingToken };
}
