/**
 * `--redis-wait-replicas`: the complete script, then WAIT on the same connection, so
 * the records reached that many replicas before the acks go out (a promoted replica
 * then has them). Fewer within the timeout is counted, not failed: the records are on
 * the master. Healthy replicas answer in a millisecond; the timeout is short because
 * the connection carries the node's other calls meanwhile.
 */
import { monotonicMs } from '../common/clock.js';
import type { Scripts } from './redis-clients.js';

/** Longest a complete call waits for replicas (WAIT). */
const WAIT_TIMEOUT_MS = 200;
/** How long a node whose replicas fell short is not waited on. */
const WAIT_BACKOFF_MS = 1000;

type Arg = string | number;
type Pipelined = Scripts & { wait(n: number, ms: number): unknown; exec(): Promise<[Error | null, unknown][] | null> };

export class ReplicaWait {
  /** WAIT calls that returned before enough replicas had the writes (or were skipped). */
  shortfalls = 0;
  private readonly skippedUntil = new Map<string, number>();

  constructor(private readonly replicas: number) {}

  async complete(c: Scripts & { pipeline(): unknown }, route: string, args: Arg[], node: string): Promise<(0 | 1 | 2)[]> {
    // A node whose replicas did not answer lately (a promoted master has none yet) is not
    // waited on for a while: each WAIT there would hold its connection for the timeout.
    if ((this.skippedUntil.get(node) ?? 0) > monotonicMs()) {
      this.shortfalls += 1;
      return c.dedupComplete(route, ...args);
    }
    const p = c.pipeline() as unknown as Pipelined;
    void p.dedupComplete(route, ...args);
    p.wait(this.replicas, WAIT_TIMEOUT_MS);
    const [script, wait] = (await p.exec()) ?? [];
    if (!script || script[0]) throw script?.[0] ?? new Error('no reply to the complete script');
    if (!wait || wait[0] || Number(wait[1]) < this.replicas) {
      this.shortfalls += 1;
      this.skippedUntil.set(node, monotonicMs() + WAIT_BACKOFF_MS);
    }
    return script[1] as (0 | 1 | 2)[];
  }
}
