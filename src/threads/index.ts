/**
 * threads: where handlers run. The executor (a piscina pool of worker threads, or
 * the main thread with --threads 0), the typed protocol between the main thread and
 * the workers, the runner that calls the handler with its context, the lease board in
 * shared memory (a lease that expired before its handler started is refused there),
 * and loading the user's handler module. workers/handler-worker.ts, the only file
 * threads run, is this part's other side.
 *
 * May import: common, store (the handler side of the atomic modes), amqp (the message type).
 */
export type { HandlerContext } from './task-runner.js';
export type { FollowupOptions, PublishFn } from './followup-calls.js';
