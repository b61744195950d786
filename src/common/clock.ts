/**
 * The clock every lease deadline is timed on: monotonic, in milliseconds from an
 * arbitrary origin. A wall clock corrected backwards (NTP, a VM resumed) would let a
 * replica run past its lease; this one never steps. It is the same in every thread of a
 * process (libuv's hrtime), so the lease board's deadlines mean the same to the main
 * thread and its workers. Wall-clock time stays only where Redis or a person reads it.
 */
export function monotonicMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}
