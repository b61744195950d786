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
export function createLogger(level: string, bindings: Record<string, unknown> = {}, format: LogFormat = 'json', fd?: number): Logger {
  const options = {
    level,
    base: { pid: process.pid, ...bindings },
    redact: {
      paths: ['password', '*.password', 'amqpUrl', '*.amqpUrl', 'redisUrls', '*.redisUrls', 'authorization', '*.authorization'],
      censor: '***',
    },
  };
  // A worker thread's process.stdout goes through the main thread: a thread that must be heard while that one is blocked writes to the fd.
  if (fd !== undefined) return pino(options, pino.destination({ dest: fd, sync: true }));
  if (resolveLogFormat(format) === 'json') return pino(options);
  return pino(options, pretty({ sync: true, colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'hostname' }));
}
