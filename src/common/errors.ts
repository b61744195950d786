/**
 * Every error dedup-pool raises carries a stable `code`, so callers and logs can
 * branch on it without parsing messages.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'BAD_MESSAGE'
  | 'LOCKED_ELSEWHERE'
  | 'STORE_UNAVAILABLE'
  | 'LEASE_LOST'
  | 'HANDLER_FAILED'
  | 'WORKER_DIED'
  | 'HANDLER_TIMEOUT'
  | 'BAD_EFFECT'
  /** A ctx.publish call that can never be sent (bad arguments, a body over --max-bytes). */
  | 'BAD_FOLLOWUP'
  /** A follow-up the broker could not route (no such exchange, no queue bound). */
  | 'FOLLOWUP_UNROUTABLE'
  /** A follow-up the broker did not confirm (refused, or its channel closed). */
  | 'FOLLOWUP_REFUSED'
  | 'STALE_TOKEN'
  | 'MAX_ATTEMPTS'
  | 'PUBLISH_FAILED'
  | 'DRAINING'
  /** A dead-letter queue holds messages dedup-pool did not write. */
  | 'DLQ_FOREIGN'
  /** Redis refused the login (WRONGPASS, NOAUTH). */
  | 'STORE_LOGIN_REFUSED'
  /** The record layout settings differ from those stored for the prefix and scope. */
  | 'LAYOUT_MISMATCH';

export class DedupPoolError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A flag, env variable or option has a value outside its expected form. */
export class ConfigError extends DedupPoolError {
  constructor(
    readonly option: string,
    message: string,
    code: ErrorCode = 'CONFIG_INVALID',
  ) {
    super(code, message);
  }
}

/**
 * A server the pool cannot work with (a Redis too old, a login refused, records laid
 * out with other settings): another start would fail the same way, so none is made.
 */
export class UnsupportedServerError extends ConfigError {}

/** Redis refused the login: the password or user name in the URL is wrong or missing. */
export class StoreLoginError extends UnsupportedServerError {
  constructor(option: string, message: string) {
    super(option, message, 'STORE_LOGIN_REFUSED');
  }
}

/** Why a delivery cannot be processed at all; it goes to the dead-letter queue. */
export type BadMessageReason =
  | 'NO_ID'
  | 'BAD_ID'
  | 'NOT_JSON'
  | 'TOO_LARGE'
  | 'BAD_HEADER';

export class BadMessageError extends DedupPoolError {
  constructor(
    readonly reason: BadMessageReason,
    message: string,
  ) {
    super('BAD_MESSAGE', message);
  }
}

/** Fewer than a quorum of Redis instances answered: nothing can be decided. */
export class StoreUnavailableError extends DedupPoolError {
  constructor(message: string, options?: ErrorOptions) {
    super('STORE_UNAVAILABLE', message, options);
  }
}

/** The lease on a message id ended (expired or taken over) while its handler ran. */
export class LeaseLostError extends DedupPoolError {
  constructor(readonly messageId: string) {
    super('LEASE_LOST', `lease on message ${messageId} was lost before the handler finished`);
  }
}

/** The user's handler threw; `message` and `stack` come from the worker thread. */
export class HandlerError extends DedupPoolError {
  constructor(message: string, readonly remoteStack?: string) {
    super('HANDLER_FAILED', message);
  }
}

/** The worker thread running a handler exited or crashed. */
export class WorkerDiedError extends DedupPoolError {
  constructor(message: string, options?: ErrorOptions) {
    super('WORKER_DIED', message, options);
  }
}

/** The handler ran past --handler-timeout (counted from when a thread took it). */
export class HandlerTimeoutError extends DedupPoolError {
  constructor(timeoutMs: number, detail: string) {
    super('HANDLER_TIMEOUT', `handler ran over --handler-timeout (${timeoutMs}ms): ${detail}`);
  }
}

/**
 * A sink refused a write because a newer fencing token already wrote there: this
 * handler's lease was taken over. Throw it (or let the fencing helper throw it).
 */
export class StaleTokenError extends DedupPoolError {
  constructor(readonly token: number, what = 'the sink') {
    super('STALE_TOKEN', `${what} has seen a newer fencing token than ${token}: this writer is stale`);
  }
}

export class PublishError extends DedupPoolError {
  constructor(message: string, options?: ErrorOptions) {
    super('PUBLISH_FAILED', message, options);
  }
}

/** The broker returned a mandatory publish: no queue took it (none bound, or a classic queue's node is down). */
export class UnroutableError extends PublishError {}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
