/**
 * Shared memory between a replica's main thread and its worker threads, one slot
 * per held lease, read and written without a message round trip:
 *
 * - lease deadline: written by the main thread (grant, every extension, 0 when lost);
 *   a worker looks at it right before it calls the handler, so a task that waited
 *   past its lease (a frozen process, a lost lease) is refused instead of run;
 * - hard stop: when the lease may run out in Redis, less a margin (grant, every
 *   extension); a handler running on the main thread past it means the main thread
 *   is blocked, and the watchdog thread ends the process (workers/watchdog.ts);
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
const HARD_STOP = 2;
const TIMES = 3;
/** Bytes per slot: three times, one thread id. */
const SLOT_BYTES = TIMES * 8 + 4;

/** The thread id the board records for a handler running on the replica's main thread. */
export const MAIN_THREAD = -1;

/** Why a worker did not start a task's handler. */
export type NotStarted = 'lease-expired' | 'draining';

export class LeaseBoard {
  readonly buffer: SharedArrayBuffer;
  private readonly times: Float64Array;
  private readonly threads: Int32Array;
  private readonly flags: Int32Array;
  private readonly free: number[];

  constructor(readonly size: number) {
    this.buffer = new SharedArrayBuffer(size * SLOT_BYTES + 4);
    ({ times: this.times, threads: this.threads, flags: this.flags } = views(this.buffer, size));
    this.free = Array.from({ length: size }, (_, i) => size - 1 - i);
  }

  /** Take a slot for a task that may start until `deadline` and must be stopped by `hardStop`; undefined when all are taken. */
  acquire(deadline: number, hardStop: number): number | undefined {
    const slot = this.free.pop();
    if (slot === undefined) return undefined;
    this.set(slot, deadline, hardStop);
    this.times[TIMES * slot + STARTED] = 0;
    this.threads[slot] = 0;
    return slot;
  }

  /** The lease was extended. */
  set(slot: number, deadline: number, hardStop: number): void {
    this.times[TIMES * slot + EXPIRY] = deadline;
    this.times[TIMES * slot + HARD_STOP] = hardStop;
  }

  /** The lease is lost: no task may start under it (its hard stop stays). */
  lose(slot: number): void {
    this.times[TIMES * slot + EXPIRY] = 0;
  }

  /** When the handler of the task in `slot` started (monotonic ms), 0 if it has not. */
  startedAt(slot: number): number {
    return this.times[TIMES * slot + STARTED]!;
  }

  /** The worker thread that started the task in `slot` (its threadId; MAIN_THREAD while it runs on the main thread), 0 if none. */
  threadOf(slot: number): number {
    return this.threads[slot]!;
  }

  /** From now on, workers start no handler (draining); tasks not started come back unrun. */
  stopStarting(): void {
    Atomics.store(this.flags, 0, 1);
  }

  release(slot: number): void {
    this.times[TIMES * slot + EXPIRY] = 0;
    this.times[TIMES * slot + HARD_STOP] = 0;
    if (this.threads[slot] === MAIN_THREAD) this.threads[slot] = 0;
    this.free.push(slot);
  }
}

function views(buffer: SharedArrayBuffer, size: number): { times: Float64Array; threads: Int32Array; flags: Int32Array } {
  return {
    times: new Float64Array(buffer, 0, size * TIMES),
    threads: new Int32Array(buffer, size * TIMES * 8, size),
    flags: new Int32Array(buffer, size * SLOT_BYTES, 1),
  };
}

/**
 * The watchdog's side of a board (workers/watchdog.ts): a handler on the main thread
 * still running past its slot's hard stop, if any. A live main thread would have aborted
 * it and, had it ignored that, ended the process itself (executor.ts endProcess) before then.
 */
export class BoardWatch {
  private readonly times: Float64Array;
  private readonly threads: Int32Array;
  private readonly size: number;

  constructor(buffer: SharedArrayBuffer) {
    this.size = (buffer.byteLength - 4) / SLOT_BYTES;
    ({ times: this.times, threads: this.threads } = views(buffer, this.size));
  }

  overdueOnMain(now: number): number | undefined {
    for (let slot = 0; slot < this.size; slot++) {
      if (Atomics.load(this.threads, slot) !== MAIN_THREAD) continue;
      const hardStop = this.times[TIMES * slot + HARD_STOP]!;
      if (hardStop > 0 && now >= hardStop) return slot;
    }
    return undefined;
  }
}

/** The worker's side of a board: may the task in `slot` start now? If so, it is marked started. */
export class BoardView {
  private readonly times: Float64Array;
  private readonly threads: Int32Array;
  private readonly flags: Int32Array;

  constructor(buffer: SharedArrayBuffer, private readonly threadId: number) {
    const size = (buffer.byteLength - 4) / SLOT_BYTES;
    ({ times: this.times, threads: this.threads, flags: this.flags } = views(buffer, size));
  }

  /** The replica is draining: no handler starts any more. */
  get draining(): boolean {
    return Atomics.load(this.flags, 0) === 1;
  }

  start(slot: number): NotStarted | undefined {
    if (this.draining) return 'draining';
    const now = monotonicMs();
    if (now >= this.times[TIMES * slot + EXPIRY]!) return 'lease-expired';
    this.times[TIMES * slot + STARTED] = now;
    Atomics.store(this.threads, slot, this.threadId);
    return undefined;
  }

  /** The handler in `slot` returned. On the main thread, the watchdog stops watching it (a worker's thread id stays: a crash is charged to it). */
  finish(slot: number): void {
    if (this.threadId === MAIN_THREAD) Atomics.store(this.threads, slot, 0);
  }
}
