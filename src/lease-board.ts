/**
 * Lease expiry times in shared memory, one slot per in-flight lease, readable by
 * worker threads without a message round trip. A worker looks at its task's slot
 * right before it calls the handler: a task that waited in the queue (or in a
 * process frozen by a pause) past its lease is refused instead of run, since
 * another replica may have taken the id over meanwhile.
 */
export class LeaseBoard {
  readonly buffer: SharedArrayBuffer;
  private readonly expiry: Float64Array;
  private readonly free: number[];

  constructor(readonly size: number) {
    this.buffer = new SharedArrayBuffer(size * Float64Array.BYTES_PER_ELEMENT);
    this.expiry = new Float64Array(this.buffer);
    this.free = Array.from({ length: size }, (_, i) => size - 1 - i);
  }

  /** Take a slot for a lease valid until `validUntil` (epoch ms). */
  acquire(validUntil: number): number {
    const slot = this.free.pop();
    if (slot === undefined) throw new Error(`lease board full (${this.size} slots)`);
    this.expiry[slot] = validUntil;
    return slot;
  }

  set(slot: number, validUntil: number): void {
    this.expiry[slot] = validUntil;
  }

  release(slot: number): void {
    this.expiry[slot] = 0;
    this.free.push(slot);
  }
}

/** Worker side: is the lease in `slot` still valid now? */
export function leaseValid(buffer: SharedArrayBuffer, slot: number): boolean {
  return Date.now() < new Float64Array(buffer)[slot]!;
}
