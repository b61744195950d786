/**
 * Shared memory between a replica's main thread and its worker threads, one slot
 * per held lease, read and written without a message round trip:
 *
 * - lease deadline: written by the main thread (grant, every extension, 0 when lost);
 *   a worker looks at it right before it calls the handler, so a task that waited
 *   past its lease (a frozen process, a lost lease) is refused instead of run;
 * - start time and thread: written by the worker when the handler starts; the main
 *   thread's lease clock reads them for handler timeouts and to know which thread to
 *   terminate, and a crash tells started tasks (charged) from queued ones (not);
 * - one flag for the whole board: stop starting handlers (the replica drains).
 *
 * Times are monotonic milliseconds (common/clock.ts), the same clock in every thread.
 */
import { monotonicMs } from '../common/clock.js';

const EXPIRY = 0;
const STARTED = 1;

/** Why a worker did not start a task's handler. */
export type NotStarted = 'lease-expired' | 'draining';

export class LeaseBoard {
  readonly buffer: SharedArrayBuffer;
  private readonly times: Float64Array;
  private readonly threads: Int32Array;
  private readonly flags: Int32Array;
  private readonly free: number[];

  constructor(readonly size: number) {
    this.buffer = new SharedArrayBuffer(size * 20 + 4);
    ({ times: this.times, threads: this.threads, flags: this.flags } = views(this.buffer, size));
    this.free = Array.from({ length: size }, (_, i) => size - 1 - i);
  }

  /** Take a slot for a task that may start until `deadline`; undefined when all are taken. */
  acquire(deadline: number): number | undefined {
    const slot = this.free.pop();
    if (slot === undefined) return undefined;
    this.times[2 * slot + EXPIRY] = deadline;
    this.times[2 * slot + STARTED] = 0;
    this.threads[slot] = 0;
    return slot;
  }

  set(slot: number, deadline: number): void {
    this.times[2 * slot + EXPIRY] = deadline;
  }

  /** When the handler of the task in `slot` started (monotonic ms), 0 if it has not. */
  startedAt(slot: number): number {
    return this.times[2 * slot + STARTED]!;
  }

  /** The worker thread that started the task in `slot` (its threadId), 0 if none. */
  threadOf(slot: number): number {
    return this.threads[slot]!;
  }

  /** From now on, workers start no handler (draining); tasks not started come back unrun. */
  stopStarting(): void {
    Atomics.store(this.flags, 0, 1);
  }

  release(slot: number): void {
    this.times[2 * slot + EXPIRY] = 0;
    this.free.push(slot);
  }
}

function views(buffer: SharedArrayBuffer, size: number): { times: Float64Array; threads: Int32Array; flags: Int32Array } {
  return {
    times: new Float64Array(buffer, 0, size * 2),
    threads: new Int32Array(buffer, size * 16, size),
    flags: new Int32Array(buffer, size * 20, 1),
  };
}

/** The worker's side of a board: may the task in `slot` start now? If so, it is marked started. */
export class BoardView {
  private readonly times: Float64Array;
  private readonly threads: Int32Array;
  private readonly flags: Int32Array;

  constructor(buffer: SharedArrayBuffer, private readonly threadId: number) {
    const size = (buffer.byteLength - 4) / 20;
    ({ times: this.times, threads: this.threads, flags: this.flags } = views(buffer, size));
  }

  /** The replica is draining: no handler starts any more. */
  get draining(): boolean {
    return Atomics.load(this.flags, 0) === 1;
  }

  start(slot: number): NotStarted | undefined {
    if (this.draining) return 'draining';
    const now = monotonicMs();
    if (now >= this.times[2 * slot + EXPIRY]!) return 'lease-expired';
    this.threads[slot] = this.threadId;
    this.times[2 * slot + STARTED] = now;
    return undefined;
  }
}
