import { pino, type Logger } from 'pino';

export type { Logger };

/** Replace the password in a URL so it can be logged. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparsable url>';
  }
}

/**
 * pino, with every field that may hold a credential censored, wherever in the
 * log object it appears. URLs are logged through redactUrl() instead.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...bindings },
    redact: {
      paths: ['password', '*.password', 'amqpUrl', '*.amqpUrl', 'redisUrls', '*.redisUrls', 'authorization', '*.authorization'],
      censor: '***',
    },
  });
}
