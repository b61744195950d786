/**
 * The random fault schedule, a pure function of the seed: the same seed gives the same
 * faults, targets (pool, replica slot), holds and gaps, so a failing run can be replayed
 * (NEMESIS_SEED). Only which process a slot holds at the time differs between runs.
 */

/** mulberry32: small, fast and good enough to pick faults; the same on every platform. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const FAULT_KINDS = [
  'kill-replica', // SIGKILL of one replica process (its supervisor restarts it)
  'pause-replica', // SIGSTOP of one replica process for longer than the lease, then SIGCONT
  'pause-redis', // SIGSTOP of the harness's redis-server for longer than the lease, then SIGCONT
  'partition-redis', // one pool's Redis proxy stops forwarding (no reset), then heals
  'partition-amqp', // one pool's RabbitMQ proxy stops forwarding, then heals
  'latency-redis', // one pool's Redis proxy delays every chunk
  'latency-amqp', // one pool's RabbitMQ proxy delays every chunk
  'reset-redis', // one pool's Redis connections reset (RST)
  'reset-amqp', // one pool's RabbitMQ connections reset
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  kind: FaultKind;
  /** Quiet time before the fault starts. */
  gapMs: number;
  /** Pool index (unused by pause-redis: that one hits every pool). */
  pool: number;
  /** Replica slot index, for the replica faults. */
  slot: number;
  /** How long the fault is held before it is healed; 0 for instant faults (kill, reset). */
  holdMs: number;
  /** Added latency per chunk, for the latency faults. */
  latencyMs: number;
}

export interface ScheduleShape {
  faults: number;
  pools: number;
  replicas: number;
  lockTtlMs: number;
}

const INSTANT: FaultKind[] = ['kill-replica', 'reset-redis', 'reset-amqp'];

export function planSchedule(seed: number, shape: ScheduleShape): PlannedFault[] {
  const r = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const lease = shape.lockTtlMs;
  const out: PlannedFault[] = [];
  for (let i = 0; i < shape.faults; i++) {
    const kind = FAULT_KINDS[int(0, FAULT_KINDS.length - 1)]!;
    let holdMs = 0;
    // Pauses are longer than the lease (so it is lost on purpose); partitions either side of it.
    if (kind === 'pause-replica' || kind === 'pause-redis') holdMs = int(Math.round(lease * 1.25), Math.round(lease * 1.75));
    else if (kind.startsWith('partition')) holdMs = int(Math.round(lease * 0.25), Math.round(lease * 1.75));
    else if (kind.startsWith('latency')) holdMs = int(Math.round(lease * 0.5), lease * 2);
    else if (!INSTANT.includes(kind)) throw new Error(`no hold for ${kind}`);
    out.push({
      kind,
      gapMs: int(200, 1200),
      pool: int(0, shape.pools - 1),
      slot: int(0, shape.replicas - 1),
      holdMs,
      latencyMs: kind.startsWith('latency') ? int(20, 250) : 0,
    });
  }
  return out;
}

/** The schedule's length if nothing waited: gaps and holds. */
export function plannedMs(plan: PlannedFault[]): number {
  return plan.reduce((sum, f) => sum + f.gapMs + f.holdMs, 0);
}
