/**
 * Keep a long-running command alive until SIGTERM/SIGINT, then `stop` (drain); a
 * second signal calls `stopNow` (abort what runs, requeue it) and a third exits at
 * once. Or until `onFatal` fires.
 */
export function runUntilSignal(
  stop: () => Promise<void>,
  stopNow: () => Promise<void>,
  onFatal: (cb: () => void) => void,
  log: { info: (o: object, m: string) => void },
): Promise<number> {
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: string): void => {
      signals += 1;
      if (signals === 1) {
        log.info({ signal }, 'shutdown requested: draining (signal again to stop now)');
        stop().then(() => resolve(0), () => resolve(1));
      } else if (signals === 2) {
        log.info({ signal }, 'second signal: stopping now (signal again to exit at once)');
        stopNow().then(() => resolve(0), () => resolve(1));
      } else {
        process.exit(130);
      }
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
    onFatal(() => resolve(1));
  });
}
