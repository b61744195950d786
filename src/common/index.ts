/**
 * common: what every part shares and nothing else owns. Options (every flag with
 * its default, doc and validation), typed errors with stable codes, the logger and
 * credential redaction, durations, backoff, file paths of the package, TLS files, the
 * cgroup CPU quota behind the thread default, and the trace context that travels in
 * `traceparent`.
 *
 * May import: nothing of the project (only Node and npm packages).
 */
export * from './errors.js';
export { resolveOptions, withDefaults, validate, OPTION_SPECS, type PoolOptions, type OptionsInput, type IdSource } from './options.js';
export { redactUrl, redactSecrets } from './redact.js';
export { retryDelay } from './backoff.js';
export { followupId, FOLLOWUP_NAMESPACE } from './followup-ids.js';
