/**
 * Consumption follows the dedup store's health: a replica starts consuming only
 * once a quorum of Redis instances answers, and stops consuming while it does
 * not (so no message piles up behind an unreachable store), resuming by itself.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer } from '../amqp/consumer.js';
import type { DedupStore } from '../store/dedup-store.js';
import { StoreUnavailableError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { loginRefusal } from '../store/redis-login.js';

const CHECK_EVERY_MS = 250;
/** The first warning after about a second (a connection being set up is not news), then every 5 s. */
const WARN_AFTER_CHECKS = 4;
const WARN_EVERY_CHECKS = 20;

export class StoreGate {
  private pausing?: Promise<void>;
  private opened = false;
  /** The last connection error of each Redis instance, cleared when it connects. */
  private readonly lastError: (string | undefined)[];

  constructor(
    private readonly store: DedupStore,
    private readonly consumer: Consumer,
    private readonly log: Logger,
    /** Ends every wait (the replica is stopping). */
    private readonly stop: AbortSignal,
    /** The instances' URLs, redacted, in the store's order. */
    private readonly describe: () => string[],
  ) {
    this.lastError = store.clients.map(() => undefined);
    store.clients.forEach((c, i) => {
      c.on('error', (err: Error) => (this.lastError[i] = errorMessage(err)));
      c.on('ready', () => (this.lastError[i] = undefined));
    });
  }

  /**
   * Wait until a quorum of Redis instances answers (retrying until stopped). At start-up
   * a refused login throws: retrying cannot help.
   */
  async open(): Promise<void> {
    const startUp = !this.opened;
    this.opened = true;
    for (let attempt = 0; !(await this.store.healthy()); attempt++) {
      const refused = startUp ? loginRefusal(this.lastError, this.describe(), this.store.mode === 'cluster') : undefined;
      if (refused) throw refused;
      if (attempt % WARN_EVERY_CHECKS === WARN_AFTER_CHECKS) this.log.warn({ redis: this.describe(), errors: this.lastError }, this.waitingMessage());
      await sleep(CHECK_EVERY_MS, undefined, { signal: this.stop }).catch(() => {});
      if (this.stop.aborted) throw new StoreUnavailableError('stopped while waiting for Redis');
    }
  }

  /** Which Redis, why, and what to do: a single instance is not talked of as a quorum. */
  waitingMessage(): string {
    const urls = this.describe();
    const state = (i: number): string => this.lastError[i] ?? this.store.clients[i]?.status ?? 'unknown';
    const hint = 'check that it runs and that --redis (env DEDUP_REDIS_URL) is right; retrying, and consuming starts once it answers';
    if (urls.length === 1) return `cannot reach Redis at ${urls[0]} (${state(0)}): ${hint}`;
    const down = urls.map((u, i) => [u, i] as const).filter(([, i]) => this.store.clients[i]?.status !== 'ready');
    return `${urls.length - down.length} of ${urls.length} Redis masters answer, ${this.store.quorum} (a majority) are needed; not answering: ${down.map(([u, i]) => `${u} (${state(i)})`).join(', ')}: ${hint}`;
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
