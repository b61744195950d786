/**
 * Shared memory between a replica's main thread, its worker threads and its watchdog
 * thread, one slot per held lease, read and written without a message round trip:
 *
 * - lease deadline: written by the main thread (grant, every extension, 0 when lost);
 *   a worker looks at it right before it calls the handler, so a task that waited
 *   past its lease (a frozen process, a lost lease) is refused instead of run;
 * - hard stop: when the lease may run out in Redis, less two ticks and a margin (grant,
 *   every extension): the watchdog's line (workers/watchdog.ts);
 * - start time, thread and running: written where the handler runs, when it starts (and
 *   running again when it returns); the main thread's lease clock reads them for handler
 *   timeouts and to know which thread to terminate, and a crash tells started tasks
 *   (charged) from queued ones (not);
 * - the main thread's heartbeat, written every lease clock tick: the watchdog tells a
 *   blocked main thread by it;
 * - one flag for the whole board: stop starting handlers (the replica drains).
 *
 * Times are monotonic milliseconds (common/clock.ts), the same clock in every thread.
 */
import { monotonicMs } from '../common/clock.js';

const EXPIRY = 0;
const STARTED = 1;
const HARD_STOP = 2;
const TIMES = 3;
/** Bytes per slot: three times, a thread id and a running flag. */
const SLOT_BYTES = TIMES * 8 + 8;
/** Past the slots: the heartbeat (8 bytes), the flags (4). */
const TAIL_BYTES = 12;

/** The thread id the board records for a handler running on the replica's main thread. */
export const MAIN_THREAD = -1;

/** Why a worker did not start a task's handler. */
export type NotStarted = 'lease-expired' | 'draining';

export class LeaseBoard {
  readonly buffer: SharedArrayBuffer;
  private readonly times: Float64Array;
  private readonly threads: Int32Array;
  private readonly running: Int32Array;
  private readonly flags: Int32Array;
  private readonly free: number[];

  constructor(readonly size: number) {
    this.buffer = new SharedArrayBuffer(size * SLOT_BYTES + TAIL_BYTES);
    ({ times: this.times, threads: this.threads, running: this.running, flags: this.flags } = views(this.buffer));
    this.free = Array.from({ length: size }, (_, i) => size - 1 - i);
    this.beat(monotonicMs());
  }

  /** The main thread is alive at `now` (the lease clock, every tick). */
  beat(now: number): void {
    this.times[TIMES * this.size] = now;
  }

  /** Take a slot for a task that may start until `deadline` and must be stopped by `hardStop`; undefined when all are taken. */
  acquire(deadline: number, hardStop: number): number | undefined {
    const slot = this.free.pop();
    if (slot === undefined) return undefined;
    this.set(slot, deadline, hardStop);
    this.times[TIMES * slot + STARTED] = 0;
    Atomics.store(this.threads, slot, 0);
    Atomics.store(this.running, slot, 0);
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

  /** The thread that started the task in `slot` (a worker's threadId, or MAIN_THREAD), 0 if none. */
  threadOf(slot: number): number {
    return Atomics.load(this.threads, slot);
  }

  /** The handler of the task in `slot` has started and not returned. */
  runningNow(slot: number): boolean {
    return Atomics.load(this.running, slot) === 1;
  }

  /** From now on, workers start no handler (draining); tasks not started come back unrun. */
  stopStarting(): void {
    Atomics.store(this.flags, 0, 1);
  }

  release(slot: number): void {
    Atomics.store(this.running, slot, 0);
    this.times[TIMES * slot + EXPIRY] = 0;
    this.times[TIMES * slot + HARD_STOP] = 0;
    this.free.push(slot);
  }
}

interface Views {
  size: number;
  /** Per slot: expiry, started, hard stop; then the heartbeat. */
  times: Float64Array;
  threads: Int32Array;
  running: Int32Array;
  flags: Int32Array;
}

function views(buffer: SharedArrayBuffer): Views {
  const size = (buffer.byteLength - TAIL_BYTES) / SLOT_BYTES;
  return {
    size,
    times: new Float64Array(buffer, 0, size * TIMES + 1),
    threads: new Int32Array(buffer, (size * TIMES + 1) * 8, size),
    running: new Int32Array(buffer, (size * TIMES + 1) * 8 + size * 4, size),
    flags: new Int32Array(buffer, (size * TIMES + 1) * 8 + size * 8, 1),
  };
}

/**
 * The watchdog's side of a board (workers/watchdog.ts). While a handler runs on the main
 * thread, that thread may be blocked by it: then nothing there renews leases, aborts
 * handlers or terminates threads. What the watchdog needs to tell: a running handler (on
 * any thread) past its slot's hard stop, and whether the main thread has beaten since.
 */
export class BoardWatch {
  private readonly v: Views;

  constructor(buffer: SharedArrayBuffer) {
    this.v = views(buffer);
  }

  /** The main thread's last beat (monotonic ms). */
  get heartbeat(): number {
    return this.v.times[TIMES * this.v.size]!;
  }

  /** While a handler runs on the main thread: a running handler past its hard stop, if any. */
  overdue(now: number): number | undefined {
    const { size, times, threads, running } = this.v;
    let onMain = false;
    let late: number | undefined;
    for (let slot = 0; slot < size; slot++) {
      if (Atomics.load(running, slot) !== 1) continue;
      if (Atomics.load(threads, slot) === MAIN_THREAD) onMain = true;
      const hardStop = times[TIMES * slot + HARD_STOP]!;
      if (late === undefined && hardStop > 0 && now >= hardStop) late = slot;
    }
    return onMain ? late : undefined;
  }
}

/** The worker's side of a board: may the task in `slot` start now? If so, it is marked started. */
export class BoardView {
  private readonly times: Float64Array;
  private readonly threads: Int32Array;
  private readonly running: Int32Array;
  private readonly flags: Int32Array;

  constructor(buffer: SharedArrayBuffer, private readonly threadId: number) {
    ({ times: this.times, threads: this.threads, running: this.running, flags: this.flags } = views(buffer));
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
    Atomics.store(this.running, slot, 1);
    return undefined;
  }

  /** The handler in `slot` returned: the watchdog stops watching it (its thread id stays: a crash is charged to it). */
  finish(slot: number): void {
    Atomics.store(this.running, slot, 0);
  }
}
