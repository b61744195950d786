/**
 * Consumption follows the dedup store's health: a replica starts consuming only
 * once a quorum of Redis instances answers, and stops consuming while it does
 * not (so no message piles up behind an unreachable store), resuming by itself.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer } from './consumer.js';
import type { DedupStore } from './dedup-store.js';
import { StoreUnavailableError } from './errors.js';
import type { Logger } from './logger.js';

const CHECK_EVERY_MS = 250;

export class StoreGate {
  private pausing?: Promise<void>;

  constructor(
    private readonly store: DedupStore,
    private readonly consumer: Consumer,
    private readonly log: Logger,
    /** Ends every wait (the replica is stopping). */
    private readonly stop: AbortSignal,
    private readonly describe: () => unknown,
  ) {}

  /** Wait until a quorum of Redis instances answers (retrying until stopped). */
  async open(): Promise<void> {
    for (let attempt = 0; !(await this.store.healthy()); attempt++) {
      if (attempt % 20 === 0) this.log.warn({ redis: this.describe() }, 'waiting for a quorum of Redis instances');
      await sleep(CHECK_EVERY_MS, undefined, { signal: this.stop }).catch(() => {});
      if (this.stop.aborted) throw new StoreUnavailableError('stopped while waiting for Redis');
    }
  }

  /** The store failed a call: stop consuming until it answers again (once, however many calls failed). */
  closeUntilBack(): void {
    this.pausing ??= this.pauseAndResume().finally(() => (this.pausing = undefined));
  }

  private async pauseAndResume(): Promise<void> {
    this.log.warn('pausing consumption until the dedup store is back');
    await this.consumer.pause();
    await this.open().catch(() => {});
    if (this.stop.aborted) return;
    await this.consumer.resume();
    this.log.info('dedup store is back: consuming again');
  }
}
