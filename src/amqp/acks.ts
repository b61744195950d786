/**
 * Settling the deliveries of one channel, cheaply and exactly.
 *
 * Acks are coalesced: once per turn of the event loop, one `basic.ack` with
 * multiple=true covers every delivery up to the highest tag below which all are
 * settled. An ack above a delivery still being worked on waits a little for it
 * (so a slow message does not cost one frame per message behind it), then goes
 * on its own, so a slow handler never holds the prefetch window hostage.
 * Requeues (nack) are never coalesced: they go at once, for that delivery only.
 */
import type { Channel, ConsumeMessage } from 'amqplib';

/** How long an ack waits behind an unsettled lower tag before it is sent alone. */
const STRAGGLER_MS = 20;

const OPEN = 0;
const TO_ACK = 1;
const SENT = 2;

export interface Settleable {
  readonly msg: ConsumeMessage;
  /** OPEN, TO_ACK or SENT. */
  state: number;
  /** Arrival, epoch ms. */
  readonly at: number;
}

export class ChannelAcks {
  /** Deliveries in tag order; those before `head` are settled at the broker. */
  private queue: Settleable[] = [];
  private head = 0;
  private waitingAcks = 0;
  private scheduled = false;
  private timer?: NodeJS.Timeout;
  live = true;

  constructor(private readonly ch: Channel) {}

  track(d: Settleable): void {
    this.queue.push(d);
  }

  ack(d: Settleable): void {
    if (d.state !== OPEN || !this.live) return;
    d.state = TO_ACK;
    this.waitingAcks += 1;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Give the message back to the broker now. */
  requeue(d: Settleable): void {
    if (d.state !== OPEN || !this.live) return;
    d.state = SENT;
    this.ch.nack(d.msg, false, true);
  }

  /** Send the acks that are due; `all`: every ack now (before the channel closes). */
  readonly flush = (all = false): void => {
    this.scheduled = false;
    if (!this.live || this.waitingAcks === 0) return;
    const { queue } = this;
    let last: Settleable | undefined;
    while (this.head < queue.length && queue[this.head]!.state !== OPEN) {
      const d = queue[this.head++]!;
      if (d.state === TO_ACK) {
        d.state = SENT;
        this.waitingAcks -= 1;
        last = d;
      }
    }
    if (last) this.ch.ack(last.msg, true);
    if (this.head > 1024 || this.head === queue.length) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    }
    if (this.waitingAcks > 0) this.stragglers(all);
  };

  /** Acks above an open delivery: sent alone once that delivery has held them up long enough. */
  private stragglers(all: boolean): void {
    const oldest = this.queue[this.head]!;
    const waited = Date.now() - oldest.at;
    if (!all && waited < STRAGGLER_MS) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, STRAGGLER_MS - waited);
      return;
    }
    for (let i = this.head; i < this.queue.length && this.waitingAcks > 0; i++) {
      const d = this.queue[i]!;
      if (d.state !== TO_ACK) continue;
      d.state = SENT;
      this.waitingAcks -= 1;
      this.ch.ack(d.msg);
    }
  }

  /** The channel closed: its delivery tags are dead, nothing more is sent. */
  close(): void {
    this.live = false;
    if (this.timer) clearTimeout(this.timer);
    this.queue = [];
    this.head = 0;
  }
}
