/**
 * ioredis prints a few warnings straight to the console (a password the server does
 * not need, a skipped ready check): routed into the process's logger so a JSON log
 * stays JSON. Other console output passes through unchanged.
 */
import type { Logger } from '../common/logger.js';

/** The openings of what ioredis writes to the console itself. */
const IOREDIS_LINE = /^(\[(WARN|ERROR)\] |\[ioredis\] |Skipping the ready check)/;

let target: Logger | undefined;

/** From now on, ioredis's console warnings go to `log` (the latest caller's logger wins). */
export function routeRedisWarnings(log: Logger): void {
  if (!target) {
    for (const method of ['warn', 'error'] as const) {
      const original = console[method].bind(console);
      console[method] = (...args: unknown[]): void => {
        const first = args[0];
        if (target && typeof first === 'string' && IOREDIS_LINE.test(first)) target.warn({ source: 'ioredis', detail: args.slice(1).map(String).join(' ') || undefined }, first);
        else original(...args);
      };
    }
  }
  target = log;
}
