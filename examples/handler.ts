// TypeScript handler: loaded through tsx, no build step, in any folder.
//   npx dedup-pool start --queue task_queue --handler examples/handler.ts
import type { HandlerContext, HandlerMessage } from 'dedup-pool';

/** The article's body: {"message_id": ..., "data": ...}. */
interface Task {
  message_id: string;
  data: string;
}

export default async function handle(message: HandlerMessage, ctx: HandlerContext): Promise<{ length: number }> {
  const task = message.body as Task;
  ctx.log.info({ id: message.id, attempt: message.attempt }, `processing ${task.data}`);
  return { length: task.data.length }; // kept in the completion record
}
