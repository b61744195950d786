/**
 * The per-message protocol, run on batches: read this file top to bottom.
 *
 *   1. Identify   deliveries of one event-loop turn are parsed together; bad input is
 *                 dead-lettered with its reason. A copy of an id this replica is already
 *                 working on follows that run's outcome (no Redis call of its own).
 *   2. Begin      one script call for what waits (two calls out at most, each up to half
 *                 the prefetch window: begin-queue.ts)
 *                 takes the lease of each new id, checks its completion record and counts
 *                 its attempt, atomically per id. Complete: ack as a duplicate. Locked
 *                 elsewhere: park, look again later.
 *   3. Run        one message per thread's share of the batch; up to --concurrency handlers
 *                 at once per thread. The lease clock renews held leases (handler-runs.ts).
 *   4. Complete   follow-ups (ctx.publish) are published and confirmed first (followups.ts);
 *                 one script call (two out at most) writes the records (with the
 *                 dedup-window TTL) of all that finished meanwhile, ends those leases
 *                 (completions.ts); then ack, coalesced per channel (amqp/acks.ts).
 *   5. Fail       per message: retry with backoff through `<queue>.retry`, or dead-letter
 *                 after the last attempt. Requeues are exact.
 *
 * This file decides; settler.ts carries the decisions to the broker (ack, requeue, dead-letter and
 * retry publishes). A message seen in flight where a thread or a process died runs alone in its
 * replica, for a bounded time (isolation.ts): a poison message takes no neighbour down twice.
 */
import type { EventEmitter } from 'node:events';
import type { QueueNames } from '../amqp/broker.js';
import type { Delivery } from '../amqp/consumer.js';
import { parseDelivery } from '../amqp/message.js';
import { retryDelay } from '../common/backoff.js';
import { ChurnMap } from '../common/churn-map.js';
import { DedupPoolError, HandlerError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { PoolOptions } from '../common/options.js';
import { tracerIfRegistered } from '../common/tracing.js';
import { decodeRecord, fingerprint, type DedupStore, type ReleaseMode } from '../store/dedup-store.js';
import type { Executor } from '../threads/executor.js';
import type { LeaseBoard } from '../threads/lease-board.js';
import type { TaskResult } from '../threads/worker-protocol.js';
import { BeginQueue, CALLS_IN_FLIGHT, beginCallSize } from './begin-queue.js';
import { completeItems } from './completions.js';
import type { Followups } from './followups.js';
import { HandlerRuns } from './handler-runs.js';
import { IdDisagreements } from './id-disagreements.js';
import { Parking } from './parking.js';
import { Isolation, crashedBefore, isRetry, markedSuspect } from './isolation.js';
import { Item, NO_LEASE, type Outcome, type ReplicaEvents } from './item.js';
import { MessageTrace } from './message-trace.js';
import { Settler } from './settler.js';
import { observe, type ReplicaStats } from './stats.js';
import type { StoreGate } from './store-gate.js';

const STORE_RETRY_MS = 1000; // pause before a requeue when Redis could not be reached

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
  /** Sends handlers' follow-up messages, confirmed, before their completions are recorded. */
  followups: Followups;
}

export class Pipeline {
  private readonly o: PoolOptions;
  private readonly log: Logger;
  private readonly stats: ReplicaStats;
  private readonly store: DedupStore;
  /** Deliveries of this turn, not yet admitted. */
  private arrivals: Delivery[] = [];
  private admitting = false;
  /** Id -> the copy this replica is working on (a drain's progress line names them). */
  readonly working = new ChurnMap<string, Item>();
  private readonly queue: BeginQueue;
  private beginCalls = 0;
  /** The suspect running alone now, if any: nothing else begins meanwhile. */
  private readonly isolation = new Isolation<Item>(() => this.pump());
  private finished: Item[] = [];
  /** Complete calls scheduled or out (at most CALLS_IN_FLIGHT). */
  private completeCalls = 0;
  private readonly parking = new Parking((item) => this.again(item));
  private stopping = false;
  private readonly runs: HandlerRuns;
  private readonly settler: Settler;
  /** Looked up once: with no OpenTelemetry SDK registered, no per-message tracing code runs. */
  private readonly tracer = tracerIfRegistered();
  private idDisagreements?: IdDisagreements;

  constructor(private readonly deps: PipelineDeps) {
    this.o = deps.opts;
    this.log = deps.log;
    this.stats = deps.stats;
    this.store = deps.store;
    this.queue = new BeginQueue(beginCallSize(this.o.batchSize, this.o.prefetch));
    this.settler = new Settler({ queue: this.o.queue, names: deps.names, log: deps.log, stats: deps.stats, events: deps.events });
    this.runs = new HandlerRuns({
      ...deps,
      stopping: () => this.stopping,
      outcomes: {
        finished: (item) => this.finished.push(item),
        failed: (item, err, threadDied) => void this.failed(item, err, threadDied),
        notStarted: (item, leaseExpired) =>
          void (leaseExpired ? this.leaseLost(item, 'lease expired before the handler started') : this.releaseAndRequeue(item, 'uncount', 'draining')),
        settled: () => this.afterResults(),
      },
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
        this.settler.settle(d, false);
        continue;
      }
      const parsed = parseDelivery(d.msg, this.o);
      if (!parsed.ok) {
        void this.settler.deadLetterBad(d, parsed.reason, parsed.detail, this.tracer);
        continue;
      }
      if (parsed.disagreement) (this.idDisagreements ??= new IdDisagreements(this.log, this.stats)).note(parsed.id, parsed.disagreement);
      const { headers } = d.msg.properties;
      const suspect = markedSuspect(headers);
      const item = new Item(d, parsed.id, parsed.body, parsed.headers, fingerprint(d.msg.content), suspect, isRetry(headers));
      if (this.tracer) item.trace = new MessageTrace(this.tracer, this.o.queue, item.id, item.headers, d.msg.fields.redelivered);
      if (this.follow(item)) continue;
      if (suspect) this.queue.push([item], true);
      else batch.push(item);
    }
    if (batch.length > 0) this.queue.push(batch, false);
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
    item.trace?.endStep({ 'dedup.decision': 'follows-local-run' });
    item.waited = true;
    this.stats.parked += 1;
    return true;
  }

  /**
   * Start what waits, in order: begin calls, and suspects alone. A suspect waits until
   * nothing else runs (at most the isolation bound), then runs alone (at most as long).
   */
  private pump(): void {
    for (let next = this.queue.head(); next && !this.isolation.active; next = this.queue.head()) {
      if (next.alone) {
        const quiet = this.runs.size === 0 && this.beginCalls === 0 && this.finished.length === 0;
        if (!quiet && !this.isolation.waitedEnough(next.items[0]!)) return;
        this.isolation.start(next.items[0]!);
      } else if (this.beginCalls >= CALLS_IN_FLIGHT) return;
      void this.begin(this.queue.take());
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
      item.trace?.decided(r);
      if (r instanceof Error) unavailable.push(item);
      else if (r.state === 'done') void this.duplicate(item, item.waited ? 'in-flight' : 'done', r.record);
      else if (r.state === 'locked') this.park(item, r.retryInMs);
      else {
        item.lease = r.lease;
        // Attempts are counted by the lease grants in Redis, so a crash loop is bounded too.
        if (r.lease.fence > this.o.maxAttempts) {
          void this.deadLetter(item, 'MAX_ATTEMPTS', `${r.lease.fence - 1} attempts ended without completing`);
        } else if (!item.suspect && crashedBefore(item.d.msg.properties.headers, r.lease.fence)) {
          void this.isolate(item);
        } else toRun.push(item);
      }
    }
    if (unavailable.length > 0) this.storeUnavailable(unavailable, results.find((r) => r instanceof Error));
    if (toRun.length > 0) this.run(toRun);
    for (const item of items) if (!item.running) this.isolation.end(item);
    this.pump();
  }

  /** An earlier grant ended in a crash: begin again alone, the grant given back uncounted (waiting costs no attempt). */
  private async isolate(item: Item): Promise<void> {
    item.suspect = true;
    await this.store.release(item.lease, 'uncount').catch(() => {});
    item.lease = NO_LEASE;
    if (this.stopping) return this.done(item, false, 'requeued');
    this.again(item);
  }

  /** Back in line for a begin call (alone if it is a suspect). */
  private again(item: Item): void {
    this.queue.push([item], item.suspect);
    this.pump();
  }

  /** Held elsewhere: look again with backoff, until the holder completes or its lease runs out. */
  private park(item: Item, retryInMs: number): void {
    if (!item.waited) this.stats.parked += 1;
    item.waited = true;
    if (this.stopping) return this.requeue(item, 'draining while parked');
    this.parking.park(item, retryInMs);
  }

  // ---- 3. run ---------------------------------------------------------------------

  /** Hand the leased items to the executor (handler-runs.ts); their results come back to onResults. */
  private run(items: Item[]): void {
    if (this.stopping) {
      for (const item of items) void this.releaseAndRequeue(item, 'uncount', 'draining');
      return;
    }
    // More leases than the board holds (deliveries of a dead channel still running): try later.
    for (const item of this.runs.start(items)) void this.releaseAndRequeue(item, 'uncount', 'lease board full', STORE_RETRY_MS);
  }

  /** Results from an executor, in batches. */
  readonly onResults = (results: TaskResult[]): void => this.runs.onResults(results);

  /** After a batch of results, and after a complete call: one complete call for what finished (CALLS_IN_FLIGHT out at most); whatever waits may begin. */
  private afterResults(): void {
    if (this.finished.length > 0 && this.completeCalls < CALLS_IN_FLIGHT) {
      this.completeCalls += 1;
      queueMicrotask(() => void this.completeFinished());
    }
    this.pump();
  }

  // ---- 4. complete ----------------------------------------------------------------

  /** Follow-ups confirmed (followups.ts), one complete call for what finished meanwhile (completions.ts), then the acks. */
  private async completeFinished(): Promise<void> {
    const items = await this.deps.followups.publish(this.finished.splice(0), (item, err) => void this.failed(item, err));
    const results = await completeItems(this.store, items, this.o.resultMaxBytes, this.deps.followups).catch((err: unknown) => items.map(() => err as Error));
    this.completeCalls -= 1;
    const unavailable: Item[] = [];
    items.forEach((item, i) => {
      const r = results[i]!;
      if (typeof r === 'boolean') this.recorded(item, r);
      else if (r instanceof DedupPoolError && r.code === 'BAD_EFFECT') void this.deadLetter(item, 'BAD_EFFECT', r.message);
      else unavailable.push(item);
    });
    // The handlers ran but their completions could not be recorded: the redeliveries run them
    // again (in inbox mode they find the inbox row instead).
    if (unavailable.length > 0) this.storeUnavailable(unavailable, results.find((r) => r instanceof Error));
    this.afterResults();
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
  private async failed(item: Item, err: DedupPoolError, threadDied = false): Promise<void> {
    if (item.lost) return this.leaseLost(item, `lease lost while the handler ran: ${err.message}`);
    if (this.stopping && item.abortedAt > 0 && !item.timedOut) return this.releaseAndRequeue(item, 'keep', 'draining');
    const { lease } = item;
    const stack = err instanceof HandlerError ? err.remoteStack : undefined;
    // A refused effect or follow-up fails the same way on every attempt: no retry.
    if (lease.fence >= this.o.maxAttempts || err.code === 'BAD_EFFECT' || err.code === 'BAD_FOLLOWUP') return this.deadLetter(item, err.code, err.message, stack);
    await this.store.release(lease).catch((releaseErr: unknown) => {
      // Not fatal: the lease expires by itself; the retry waits at most that long.
      this.log.warn({ msgId: item.id, err: errorMessage(releaseErr) }, 'could not release lease after a failure');
    });
    const delayMs = retryDelay(lease.fence, this.o.retryDelayMs, this.o.retryMaxDelayMs);
    // A thread that died with it on board is the evidence that makes its retry run alone.
    const details = { id: item.id, attempt: lease.fence, maxAttempts: this.o.maxAttempts, error: err.message, stack, delayMs, suspect: threadDied || item.suspect };
    if (await this.settler.retry(item.d, details)) this.done(item, true, 'retried');
    else this.requeue(item, 'retry publish failed');
  }

  private leaseLost(item: Item, why: string): void {
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
    this.ackDuplicate(item, reason);
  }

  private ackDuplicate(item: Item, reason: keyof ReplicaStats['duplicates']): void {
    item.trace?.duplicate(reason);
    this.done(item, true, 'duplicate');
    this.stats.duplicates[reason] += 1;
    this.deps.events.emit('duplicate', item.id, reason);
  }

  /** Publish to `<queue>.dlq` with the reason, wait for the confirm, then ack; never drop. */
  private async deadLetter(item: Item, reason: string, detail: string, stack?: string): Promise<void> {
    const leased = item.lease !== NO_LEASE;
    item.trace?.deadLettered(reason, detail);
    const attempts = leased ? Math.min(item.lease.fence, this.o.maxAttempts) : undefined;
    if (!(await this.settler.deadLetter(item.d, reason, detail, { id: item.id, attempts, stack }))) {
      if (leased) return this.releaseAndRequeue(item, 'keep', 'dead-letter publish failed', STORE_RETRY_MS);
      return this.requeue(item, 'dead-letter publish failed', STORE_RETRY_MS);
    }
    this.done(item, true, 'dead-lettered');
    // A replay from the dead-letter queue starts again from attempt 1.
    if (leased) await this.store.release(item.lease, 'reset').catch(() => {});
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
    this.runs.drop(item);
    item.trace?.end(outcome === 'completed' ? 'processed' : outcome);
    const wasAlone = this.isolation.end(item);
    this.settler.settle(item.d, ack);
    if (this.working.get(item.id) === item) this.working.delete(item.id);
    const followers = item.followers;
    item.followers = undefined;
    for (const f of followers ?? []) {
      if (outcome === 'requeued' || (outcome === 'retried' && f.retry) || f.print !== item.print) {
        // Not settled by this run: it goes through the protocol itself. A retry that followed
        // a retried run may be that very retry, back before the run was settled (a short --retry-delay).
        if (this.stopping) this.done(f, false, 'requeued');
        else if (!this.follow(f)) this.queue.push([f], f.suspect);
      } else this.ackDuplicate(f, 'in-flight');
    }
    if (followers || wasAlone) this.pump();
  }

  // ---- draining -------------------------------------------------------------------

  /** Start nothing new: waiting and parked messages go back to the broker at once. */
  stopStarting(): void {
    this.stopping = true;
    this.deps.board.stopStarting();
    this.runs.stopStarting();
    for (const item of this.queue.takeAll()) this.done(item, false, 'requeued');
    this.isolation.stop();
    for (const item of this.parking.takeAll()) this.done(item, false, 'requeued');
  }

  /** Handlers still running after the drain timeout: their signals fire. */
  abortAll(reason: Error): void {
    this.runs.abortAll(reason);
  }

  close(): void {
    this.runs.close();
  }
}
