/**
 * The per-message protocol, run on batches: read this file top to bottom.
 *
 *   1. Identify   deliveries of one event-loop turn are parsed together; bad input is
 *                 dead-lettered with its reason. A copy of an id this replica is already
 *                 working on follows that run's outcome (no Redis call of its own).
 *   2. Begin      one script call for the batch takes the lease of every new id, checks
 *                 its completion record and counts its attempt, atomically per id.
 *                 Complete: ack as a duplicate. Locked elsewhere: park, look again later.
 *   3. Run        one message per thread's share of the batch; up to --concurrency
 *                 handlers at once per thread. The lease clock renews every held lease.
 *   4. Complete   one script call writes the records (with the dedup-window TTL) of
 *                 everything that finished in a turn and ends those leases; then ack,
 *                 coalesced per channel (acks.ts).
 *   5. Fail       per message: retry with backoff through `<queue>.retry`, or dead-letter
 *                 after the last attempt. Requeues are exact.
 *
 * A message back after a failure or a crash (redelivered, or carrying an attempt
 * header) runs alone in its replica: a poison message that kills its thread or
 * process then takes no innocent neighbour down twice.
 */
import type { EventEmitter } from 'node:events';
import type { QueueNames } from './amqp.js';
import type { Delivery } from './consumer.js';
import { decodeRecord, encodeRecord, fingerprint, type DedupStore, type Lease, type ReleaseMode } from './dedup-store.js';
import { checkEffects } from './effects.js';
import { DedupPoolError, HandlerError, HandlerTimeoutError, LeaseLostError, StoreUnavailableError, WorkerDiedError, errorMessage } from './errors.js';
import type { Executor } from './executor.js';
import type { LeaseBoard } from './lease-board.js';
import { LeaseClock, type Held } from './lease-clock.js';
import type { Logger } from './logger.js';
import { parseDelivery } from './message.js';
import type { PoolOptions } from './options.js';
import { retryDelay } from './backoff.js';
import { HEADERS, republishProps, truncate } from './republish.js';
import { observe, type ReplicaStats } from './stats.js';
import type { StoreGate } from './store-gate.js';
import type { Task, TaskResult } from './worker-protocol.js';

/** How long a parked duplicate waits before it looks again (doubling up to the max). */
const PARK_FIRST_MS = 25;
const PARK_MAX_MS = 1000;
/** Pause before a message is requeued because Redis could not be reached. */
const STORE_RETRY_MS = 1000;
/** Tries of a complete call that failed for want of Redis, before its messages are requeued. */
const COMPLETE_TRIES = 3;

export interface ReplicaEvents {
  completed: [id: string];
  duplicate: [id: string, reason: keyof ReplicaStats['duplicates']];
  'dead-lettered': [id: string | undefined, reason: string];
  retried: [id: string, attempt: number];
}

export interface PipelineDeps {
  opts: PoolOptions;
  log: Logger;
  stats: ReplicaStats;
  store: DedupStore;
  names: QueueNames;
  board: LeaseBoard;
  storeGate: StoreGate;
  events: EventEmitter<ReplicaEvents>;
  /** The executor new tasks go to (it changes when threads are resized). */
  executor(): Executor;
}

/** One delivery with an id, from admission to settlement. */
class Item implements Held {
  /** Copies of the same id that arrived while this one was being worked on. */
  followers: Item[] | undefined = undefined;
  /** Waited for another holder (locally or elsewhere) before it was decided. */
  waited = false;
  parkMs = 0;
  // While leased:
  lease: Lease = NO_LEASE;
  slot = -1;
  task: Task | undefined = undefined;
  executor: Executor | undefined = undefined;
  running = false;
  lost = false;
  timedOut = false;
  abortedAt = 0;
  stuck = false;
  result: Extract<TaskResult, { ok: true }> | undefined = undefined;
  handlerStarted = 0;
  handlerEnded = 0;

  constructor(
    readonly d: Delivery,
    readonly id: string,
    readonly body: unknown,
    readonly headers: Record<string, unknown>,
    readonly print: string,
    /** Back after a failure or a crash: runs alone. */
    readonly suspect: boolean,
  ) {}
}

const NO_LEASE: Lease = { id: '', token: '', fence: 0, fences: [], validUntil: 0 };

/** What happened to an id's leading copy; its followers take it from there. */
type Outcome = 'completed' | 'duplicate' | 'retried' | 'dead-lettered' | 'requeued';

export class Pipeline {
  private readonly o: PoolOptions;
  private readonly log: Logger;
  private readonly stats: ReplicaStats;
  private readonly store: DedupStore;
  /** Deliveries of this turn, not yet admitted. */
  private arrivals: Delivery[] = [];
  private admitting = false;
  /** Id -> the copy this replica is working on. */
  private readonly working = new Map<string, Item>();
  /** Batches (and lone suspects) waiting for their begin call, in arrival order. */
  private readonly queue: { items: Item[]; alone: boolean }[] = [];
  private beginCalls = 0;
  /** The suspect running alone now: nothing else begins meanwhile. */
  private alone: Item | undefined;
  /** Task id -> leased item whose handler is out on an executor. */
  private readonly running = new Map<number, Item>();
  private finished: Item[] = [];
  private completing = false;
  private readonly parked = new Map<Item, NodeJS.Timeout>();
  private nextTaskId = 1;
  private stopping = false;
  private readonly clock: LeaseClock;

  constructor(private readonly deps: PipelineDeps) {
    this.o = deps.opts;
    this.log = deps.log;
    this.stats = deps.stats;
    this.store = deps.store;
    this.clock = new LeaseClock(deps.store, deps.board, { lockTtlMs: this.o.lockTtlMs, handlerTimeoutMs: this.o.handlerTimeoutMs, graceMs: graceMs(this.o) }, {
      extended: () => (this.stats.leaseExtensions += 1),
      lost: (h) => this.abortHandler(h as Item, new LeaseLostError((h as Item).id)),
      timedOut: (h) => this.abortHandler(h as Item, new HandlerTimeoutError(this.o.handlerTimeoutMs, 'its signal was aborted')),
      stuck: (h) => this.terminate(h as Item),
    });
  }

  // ---- 1. identify ----------------------------------------------------------------

  /** A delivery arrived: it is admitted with the others of this turn. */
  deliver(d: Delivery): void {
    this.stats.deliveries += 1;
    this.stats.inFlight += 1;
    this.arrivals.push(d);
    if (this.arrivals.length >= this.o.batchSize) this.admitArrivals();
    else if (!this.admitting) {
      this.admitting = true;
      queueMicrotask(() => this.admitArrivals());
    }
  }

  private admitArrivals(): void {
    this.admitting = false;
    const arrivals = this.arrivals;
    this.arrivals = [];
    const batch: Item[] = [];
    for (const d of arrivals) {
      if (this.stopping) {
        this.settle(d, false);
        continue;
      }
      const parsed = parseDelivery(d.msg, this.o);
      if (!parsed.ok) {
        void this.deadLetterBad(d, parsed.reason, parsed.detail);
        continue;
      }
      const suspect = d.msg.fields.redelivered || d.msg.properties.headers?.[HEADERS.attempt] !== undefined;
      const item = new Item(d, parsed.id, parsed.body, parsed.headers, fingerprint(d.msg.content), suspect);
      if (this.follow(item)) continue;
      if (suspect) this.queue.push({ items: [item], alone: true });
      else batch.push(item);
    }
    if (batch.length > 0) this.queue.push({ items: batch, alone: false });
    this.pump();
  }

  /** A copy of an id this replica is working on waits for that run; true if it does. */
  private follow(item: Item): boolean {
    const leader = this.working.get(item.id);
    if (!leader) {
      this.working.set(item.id, item);
      return false;
    }
    (leader.followers ??= []).push(item);
    item.waited = true;
    this.stats.parked += 1;
    return true;
  }

  /** Start begin calls for what waits, in order; a lone suspect waits until nothing else runs. */
  private pump(): void {
    while (this.queue.length > 0 && !this.alone) {
      const next = this.queue[0]!;
      if (next.alone) {
        if (this.running.size > 0 || this.beginCalls > 0 || this.finished.length > 0) return;
        this.alone = next.items[0];
      }
      this.queue.shift();
      void this.begin(next.items);
    }
  }

  // ---- 2. begin -------------------------------------------------------------------

  private async begin(items: Item[]): Promise<void> {
    this.beginCalls += 1;
    const results = await this.store.beginMany(items.map((i) => i.id)).catch((err: unknown) => items.map(() => err as Error));
    this.beginCalls -= 1;
    this.stats.batches += 1;
    const toRun: Item[] = [];
    const unavailable: Item[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const r = results[i]!;
      if (r instanceof Error) unavailable.push(item);
      else if (r.state === 'done') void this.duplicate(item, item.waited ? 'in-flight' : 'done', r.record);
      else if (r.state === 'locked') this.park(item, r.retryInMs);
      else {
        item.lease = r.lease;
        // Attempts are counted by the lease grants in Redis, so a crash loop is bounded too.
        if (r.lease.fence > this.o.maxAttempts) {
          void this.deadLetter(item, 'MAX_ATTEMPTS', `${r.lease.fence - 1} attempts ended without completing`);
        } else toRun.push(item);
      }
    }
    if (unavailable.length > 0) this.storeUnavailable(unavailable, results.find((r) => r instanceof Error));
    if (toRun.length > 0) this.run(toRun);
    if (this.alone && items.includes(this.alone) && !this.alone.running) this.alone = undefined;
    this.pump();
  }

  /** Held elsewhere: look again with backoff, until the holder completes or its lease runs out. */
  private park(item: Item, retryInMs: number): void {
    if (!item.waited) this.stats.parked += 1;
    item.waited = true;
    if (this.stopping) return this.requeue(item, 'draining while parked');
    item.parkMs = Math.min(item.parkMs === 0 ? PARK_FIRST_MS : item.parkMs * 2, PARK_MAX_MS);
    const wait = Math.min(item.parkMs, Math.max(retryInMs, PARK_FIRST_MS));
    this.parked.set(
      item,
      setTimeout(() => {
        this.parked.delete(item);
        this.queue.push({ items: [item], alone: item.suspect });
        this.pump();
      }, wait),
    );
  }

  // ---- 3. run ---------------------------------------------------------------------

  private run(items: Item[]): void {
    const executor = this.deps.executor();
    const tasks: Task[] = [];
    for (const item of items) {
      if (this.stopping) {
        void this.releaseAndRequeue(item, 'uncount', 'draining');
        continue;
      }
      const slot = this.deps.board.acquire(item.lease.validUntil);
      if (slot === undefined) {
        // More leases than the board holds (deliveries of a dead channel still running): try later.
        void this.releaseAndRequeue(item, 'uncount', 'lease board full', STORE_RETRY_MS);
        continue;
      }
      const { lease } = item;
      item.slot = slot;
      item.task = {
        taskId: this.nextTaskId++,
        slot,
        message: { id: item.id, body: item.body, headers: item.headers, attempt: lease.fence, redelivered: item.d.msg.fields.redelivered },
        fencingToken: lease.fence,
      };
      item.executor = executor;
      item.running = true;
      item.handlerStarted = performance.now();
      this.running.set(item.task.taskId, item);
      this.clock.hold(item);
      tasks.push(item.task);
    }
    if (tasks.length > 0) executor.submit(tasks);
  }

  /** Results from an executor, in batches. */
  readonly onResults = (results: TaskResult[]): void => {
    const again: Item[] = [];
    for (const r of results) {
      const item = this.running.get(r.taskId);
      if (!item) continue;
      if (!r.ok && 'died' in r && !r.started && !this.stopping && !item.lost) {
        // Its thread died before the handler started: it runs again, still leased, uncharged.
        again.push(item);
        continue;
      }
      this.running.delete(r.taskId);
      item.running = false;
      item.handlerEnded = performance.now();
      observe(this.stats.handler, item.handlerEnded - item.handlerStarted);
      this.deps.board.release(item.slot);
      if (r.ok) {
        item.result = r;
        this.finished.push(item);
      } else if ('notStarted' in r || ('died' in r && !r.started)) {
        if (item.lost || ('notStarted' in r && r.notStarted === 'lease-expired')) void this.leaseLost(item, 'lease expired before the handler started');
        else void this.releaseAndRequeue(item, 'uncount', 'draining');
      } else void this.failed(item, 'died' in r ? this.deathOf(item, r.died) : new HandlerError(r.error.message, r.error.stack));
    }
    if (again.length > 0) this.deps.executor().submit(again.map((i) => i.task!));
    if (this.finished.length > 0 && !this.completing) {
      this.completing = true;
      queueMicrotask(() => void this.completeFinished());
    }
    this.pump();
  };

  private abortHandler(item: Item, reason: Error): void {
    if (!item.running || item.abortedAt > 0) return;
    item.abortedAt = Date.now();
    item.executor!.abort(item.task!.taskId, reason.message);
  }

  /** Its handler ignored the abort for the grace period: end its thread. */
  private terminate(item: Item): void {
    if (!item.running) return;
    if (item.executor!.terminate(item.slot)) this.log.warn({ msgId: item.id, attempt: item.lease.fence }, 'handler ignored its abort signal: terminating its thread');
    else this.log.error({ msgId: item.id }, 'handler ignored its abort signal and cannot be terminated on the main thread (--threads 0)');
  }

  private deathOf(item: Item, died: string): DedupPoolError {
    if (item.timedOut) return new HandlerTimeoutError(this.o.handlerTimeoutMs, `it ignored its abort signal for ${graceMs(this.o)}ms; its thread was terminated`);
    return new WorkerDiedError(died);
  }

  // ---- 4. complete ----------------------------------------------------------------

  /** One complete call for everything that finished in this turn, then the acks. */
  private async completeFinished(): Promise<void> {
    this.completing = false;
    const items = this.finished;
    this.finished = [];
    const plain: Item[] = [];
    for (const item of items) {
      const effects = item.result!.effects ? checkEffects(item.result!.effects) : [];
      if (typeof effects === 'string') void this.deadLetter(item, 'BAD_EFFECT', effects);
      else if (effects.length > 0) void this.completeWithEffects(item, effects);
      else plain.push(item);
    }
    if (plain.length === 0) return this.pump();
    const records = plain.map((item) => ({ lease: item.lease, record: encodeRecord(item.print, item.result!.resultJson, this.o.resultMaxBytes) }));
    let results: (boolean | Error)[] = [];
    for (let attempt = 1; attempt <= COMPLETE_TRIES; attempt++) {
      results = await this.store.completeMany(records);
      if (!results.some((r) => r instanceof StoreUnavailableError) || attempt === COMPLETE_TRIES) break;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
    const unavailable: Item[] = [];
    plain.forEach((item, i) => {
      const r = results[i]!;
      if (r instanceof Error) unavailable.push(item);
      else this.recorded(item, r);
    });
    // The handlers ran but their completions could not be recorded: the redeliveries run them
    // again (in inbox mode they find the inbox row instead).
    if (unavailable.length > 0) this.storeUnavailable(unavailable, results.find((r) => r instanceof Error) as Error);
    this.pump();
  }

  private async completeWithEffects(item: Item, effects: Parameters<DedupStore['completeWithEffects']>[2]): Promise<void> {
    const record = encodeRecord(item.print, item.result!.resultJson, this.o.resultMaxBytes);
    try {
      this.recorded(item, await this.store.completeWithEffects(item.lease, record, effects));
    } catch (err) {
      if (err instanceof DedupPoolError && err.code === 'BAD_EFFECT') return this.deadLetter(item, 'BAD_EFFECT', err.message);
      this.storeUnavailable([item], err);
    }
  }

  /** The complete call answered for this item: recorded, or another lease was granted since ours. */
  private recorded(item: Item, written: boolean): void {
    // The inbox row existed: this very body was committed before (a record of just the fingerprint says so).
    if (item.result!.inboxDuplicate) return void this.duplicate(item, 'inbox', item.print);
    if (!written) return void this.leaseLost(item, 'lease lost to another replica: completion not recorded');
    this.done(item, true, 'completed');
    observe(this.stats.handlerToAck, performance.now() - item.handlerEnded);
    this.stats.completed += 1;
    this.deps.events.emit('completed', item.id);
  }

  // ---- 5. fail --------------------------------------------------------------------

  /** The handler failed: retry with backoff, or dead-letter after the last attempt. */
  private async failed(item: Item, err: DedupPoolError): Promise<void> {
    if (item.lost) return this.leaseLost(item, `lease lost while the handler ran: ${err.message}`);
    if (this.stopping && item.abortedAt > 0 && !item.timedOut) return this.releaseAndRequeue(item, 'keep', 'draining');
    const { lease } = item;
    if (lease.fence >= this.o.maxAttempts) return this.deadLetter(item, err.code, err.message);
    await this.store.release(lease).catch((releaseErr: unknown) => {
      // Not fatal: the lease expires by itself; the retry waits at most that long.
      this.log.warn({ msgId: item.id, err: errorMessage(releaseErr) }, 'could not release lease after a failure');
    });
    const delay = retryDelay(lease.fence, this.o.retryDelayMs, this.o.retryMaxDelayMs);
    const { d } = item;
    const headers = { ...d.msg.properties.headers, [HEADERS.attempt]: lease.fence, [HEADERS.error]: truncate(err.message) };
    try {
      const props = { ...republishProps(d), headers };
      if (delay > 0) await d.publish(this.deps.names.retry, d.msg.content, { ...props, expiration: String(delay) });
      else await d.publish(this.deps.names.queue, d.msg.content, props);
    } catch (pubErr) {
      this.log.warn({ msgId: item.id, err: errorMessage(pubErr) }, 'could not schedule a retry: message requeued');
      return this.requeue(item, 'retry publish failed');
    }
    this.done(item, true, 'retried');
    this.stats.retried += 1;
    this.log.debug({ msgId: item.id, attempt: lease.fence, delay, err: err.message }, 'handler failed: retry scheduled');
    this.deps.events.emit('retried', item.id, lease.fence);
  }

  private async leaseLost(item: Item, why: string): Promise<void> {
    // Someone else may hold the id now; the lease is not ours to release.
    this.stats.leaseLost += 1;
    this.log.warn({ msgId: item.id, fence: item.lease.fence }, `${why}: message requeued`);
    this.requeue(item, 'lease lost');
  }

  // ---- outcomes -------------------------------------------------------------------

  /** The id is complete. Same body: ack as a duplicate. Another body: a conflict, never silently dropped. */
  private async duplicate(item: Item, reason: keyof ReplicaStats['duplicates'], record: string): Promise<void> {
    const recorded = decodeRecord(record).fingerprint;
    if (recorded !== item.print) {
      if (this.o.onConflict === 'dead-letter') return this.deadLetter(item, 'ID_CONFLICT', `id ${item.id} was already completed with a different body`);
      this.log.warn({ msgId: item.id }, 'id completed earlier with a different body: acked as a duplicate');
    }
    this.done(item, true, 'duplicate');
    this.stats.duplicates[reason] += 1;
    this.deps.events.emit('duplicate', item.id, reason);
  }

  /** A delivery that cannot be processed at all (no id, bad body): dead-letter it with the reason. */
  private async deadLetterBad(d: Delivery, reason: string, detail: string): Promise<void> {
    if (await this.publishDeadLetter(d, reason, detail)) this.settle(d, true);
    else setTimeout(() => this.settle(d, false), STORE_RETRY_MS);
  }

  /** Publish to `<queue>.dlq` with the reason, wait for the confirm, then ack; never drop. */
  private async deadLetter(item: Item, reason: string, detail: string): Promise<void> {
    const leased = item.lease !== NO_LEASE;
    const attempts = leased ? Math.min(item.lease.fence, this.o.maxAttempts) : undefined;
    if (!(await this.publishDeadLetter(item.d, reason, detail, item.id, attempts))) {
      if (leased) return this.releaseAndRequeue(item, 'keep', 'dead-letter publish failed', STORE_RETRY_MS);
      return this.requeue(item, 'dead-letter publish failed', STORE_RETRY_MS);
    }
    this.done(item, true, 'dead-lettered');
    // A replay from the dead-letter queue starts again from attempt 1.
    if (leased) await this.store.release(item.lease, 'reset').catch(() => {});
  }

  private async publishDeadLetter(d: Delivery, reason: string, detail: string, id?: string, attempts?: number): Promise<boolean> {
    const headers = {
      ...d.msg.properties.headers,
      [HEADERS.reason]: reason,
      [HEADERS.error]: truncate(detail),
      [HEADERS.queue]: this.o.queue,
      ...(id !== undefined && { [HEADERS.id]: id }),
      ...(attempts !== undefined && { [HEADERS.attempts]: attempts }),
    };
    try {
      await d.publish(this.deps.names.dlq, d.msg.content, { ...republishProps(d), headers });
    } catch (err) {
      this.log.error({ msgId: id, err: errorMessage(err) }, 'could not dead-letter: message requeued');
      return false;
    }
    this.stats.deadLettered[reason] = (this.stats.deadLettered[reason] ?? 0) + 1;
    this.log.warn({ msgId: id, reason, detail }, 'dead-lettered');
    this.deps.events.emit('dead-lettered', id, reason);
    return true;
  }

  /** Redis is unreachable: give the messages back after a pause, and stop consuming until it returns. */
  private storeUnavailable(items: Item[], err: unknown): void {
    this.stats.storeErrors += 1;
    this.log.error({ err: errorMessage(err), messages: items.length }, 'dedup store unavailable: messages requeued after a pause');
    this.deps.storeGate.closeUntilBack();
    for (const item of items) this.requeue(item, 'store unavailable', STORE_RETRY_MS);
  }

  private async releaseAndRequeue(item: Item, mode: ReleaseMode, why: string, delayMs = 0): Promise<void> {
    await this.store.release(item.lease, mode).catch(() => {});
    this.requeue(item, why, delayMs);
  }

  /** Give the message back to the broker (after `delayMs`, so nothing spins). */
  private requeue(item: Item, why: string, delayMs = 0): void {
    if (delayMs > 0 && !this.stopping) {
      setTimeout(() => this.requeue(item, why), delayMs);
      return;
    }
    this.log.debug({ msgId: item.id, why }, 'requeued');
    this.done(item, false, 'requeued');
  }

  /** Settle an item's delivery; the copies that followed it take its outcome. */
  private done(item: Item, ack: boolean, outcome: Outcome): void {
    this.clock.drop(item);
    const wasAlone = item === this.alone;
    if (wasAlone) this.alone = undefined;
    this.settle(item.d, ack);
    if (this.working.get(item.id) === item) this.working.delete(item.id);
    const followers = item.followers;
    item.followers = undefined;
    for (const f of followers ?? []) {
      if (outcome === 'requeued' || f.print !== item.print) {
        // Not settled by this run: it goes through the protocol itself.
        if (this.stopping) this.done(f, false, 'requeued');
        else if (!this.follow(f)) this.queue.push({ items: [f], alone: f.suspect });
      } else {
        this.done(f, true, 'duplicate');
        this.stats.duplicates['in-flight'] += 1;
        this.deps.events.emit('duplicate', f.id, 'in-flight');
      }
    }
    if (followers || wasAlone) this.pump();
  }

  private settle(d: Delivery, ack: boolean): void {
    this.stats.inFlight -= 1;
    if (!ack) {
      this.stats.requeued += 1;
      d.requeue();
    } else {
      // A delivery whose channel died cannot be acked: the broker redelivers it and the
      // redelivery finds the completion record.
      if (!d.live) this.log.warn({ msgId: d.msg.properties.messageId }, 'channel closed before the ack: the redelivery will be acked as a duplicate');
      d.ack();
    }
  }

  // ---- draining -------------------------------------------------------------------

  /** Start nothing new: waiting and parked messages go back to the broker at once. */
  stopStarting(): void {
    this.stopping = true;
    this.deps.board.stopStarting();
    for (const { items } of this.queue.splice(0)) for (const item of items) this.done(item, false, 'requeued');
    for (const [item, timer] of this.parked) {
      clearTimeout(timer);
      this.done(item, false, 'requeued');
    }
    this.parked.clear();
  }

  /** Handlers still running after the drain timeout: their signals fire. */
  abortAll(reason: Error): void {
    for (const item of this.running.values()) this.abortHandler(item, reason);
  }

  close(): void {
    this.clock.stop();
  }
}

/** Long enough to clean up after an abort, short enough that a lost lease is not outrun. */
function graceMs(o: PoolOptions): number {
  return Math.min(1000, Math.max(100, Math.floor(o.lockTtlMs / 3)));
}
