import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };
export { redactUrl } from './redact.js';

export type LogFormat = 'auto' | 'json' | 'pretty';

/** `auto` is pretty on a terminal and JSON otherwise (files, pipes, log shippers). */
export function resolveLogFormat(format: LogFormat): 'json' | 'pretty' {
  return format === 'auto' ? (process.stdout.isTTY ? 'pretty' : 'json') : format;
}

/**
 * pino, with every field that may hold a credential censored, wherever in the
 * log object it appears. URLs are logged through redactUrl() instead. Pretty
 * lines are formatted synchronously on this thread: no transport thread per logger.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}, format: LogFormat = 'json'): Logger {
  const options = {
    level,
    base: { pid: process.pid, ...bindings },
    redact: {
      paths: ['password', '*.password', 'amqpUrl', '*.amqpUrl', 'redisUrls', '*.redisUrls', 'authorization', '*.authorization'],
      censor: '***',
    },
  };
  // Written at once to fd 1: a line logged right before the process is killed is not lost, and a
  // worker thread's line does not go through the main thread (process.stdout), which may be blocked.
  if (resolveLogFormat(format) === 'json') return pino(options, pino.destination({ dest: 1, sync: true }));
  return pino(options, pretty({ sync: true, colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'hostname' }));
}
