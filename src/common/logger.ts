import { constants, openSync, writeSync } from 'node:fs';
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
  if (resolveLogFormat(format) === 'json') return pino(options);
  return pino(options, pretty({ sync: true, colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'hostname' }));
}

/**
 * A JSON logger for the line written right before a SIGKILL (threads/executor.ts
 * endProcess, workers/watchdog.ts): written at once (pino's stdout stream would write it
 * after the kill), through a non-blocking descriptor of stdout, so a stalled reader of the
 * log never holds the kill back (the line is dropped instead).
 */
export function lastWordsLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  let fd = 1;
  try {
    fd = openSync('/proc/self/fd/1', constants.O_WRONLY | constants.O_APPEND | constants.O_NONBLOCK);
  } catch {
    // Not Linux, or stdout closed: a blocking write it is.
  }
  const write = (line: string): void => {
    try {
      writeSync(fd, line);
    } catch {
      // EAGAIN: the pipe is full; the kill matters more than the line.
    }
  };
  return pino({ level, base: { pid: process.pid, ...bindings } }, { write });
}
