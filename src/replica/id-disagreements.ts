/**
 * Messages whose id sources disagree (say a body `message_id` and a message-id
 * property set afresh by the client on each publish): each is counted, and a
 * warning names one of them at most every WARN_EVERY_MS, with how many there were
 * since the last warning, so a producer doing it on every message does not flood
 * the log.
 */
import type { IdDisagreement } from '../amqp/message.js';
import type { Logger } from '../common/logger.js';
import type { ReplicaStats } from './stats.js';

export const WARN_EVERY_MS = 10_000;

export class IdDisagreements {
  private lastWarnAt = -Infinity;
  private sinceWarn = 0;

  constructor(
    private readonly log: Pick<Logger, 'warn'>,
    private readonly stats: Pick<ReplicaStats, 'idDisagreements'>,
    private readonly now: () => number = Date.now,
  ) {}

  note(id: string, d: IdDisagreement): void {
    this.stats.idDisagreements += 1;
    this.sinceWarn += 1;
    const now = this.now();
    if (now - this.lastWarnAt < WARN_EVERY_MS) return;
    this.log.warn(
      { id, idFrom: d.chosenFrom, otherId: d.otherId, otherFrom: d.otherFrom, count: this.sinceWarn },
      `message ids disagree: ran under "${id}" (${d.chosenFrom}), not "${d.otherId}" (${d.otherFrom}); ` +
        `${this.sinceWarn} such message(s) since the last warning; --id-from sets which source wins`,
    );
    this.lastWarnAt = now;
    this.sinceWarn = 0;
  }
}
