/**
 * Every option of a replica: its flag, env variable, default and a line of doc.
 *
 * Two small pure functions turn user input into options: `withDefaults()` fills
 * what is missing, `validate()` checks and converts each value (strings from the
 * CLI or env, or typed values from the API) and names the flag on error.
 * `resolveOptions()` is the two in a row.
 */
import { defaultThreads } from './cpu-quota.js';
import { ConfigError } from './errors.js';
import { parseDuration } from './duration.js';
import { redactSecrets } from './redact.js';

export type IdSource =
  | { kind: 'property' }
  | { kind: 'header'; name: string }
  | { kind: 'body' }
  | { kind: 'content' };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface PoolOptions {
  /** Queue to consume. Declared durable if missing; `<queue>.dlq` and `<queue>.retry` are declared beside it. */
  queue: string;
  /** Path to the handler module (default export `async (message, ctx) => result`), JavaScript or TypeScript. Fixed at start. */
  handler: string;
  /** Worker threads running the handler; 0 runs it on the main thread (for I/O-bound handlers). Default: the machine's available parallelism, lowered to a cgroup CPU quota (a container's CPU limit). */
  threads: number;
  /**
   * Handlers measured faster than this many microseconds per call run on the replica's
   * main thread, without the hop to a worker thread (the fast lane); 0: always on threads.
   * Off while --worker-heap-mb is set (a heap limit is a thread's). Default 100.
   */
  inlineBelowUs: number;
  /** Handler calls running at once on each thread: raise it for handlers that mostly await I/O; 1 for CPU-bound ones. Default 8. */
  concurrency: number;
  /** Unacknowledged deliveries a replica holds at once. Default 100. */
  prefetch: number;
  /** Most deliveries handled as one batch (one message per thread; a begin call also carries at most half of --prefetch). Default 256. */
  batchSize: number;
  /** RabbitMQ URL, or the URLs of the nodes of one cluster separated by commas. Default `amqp://guest:guest@127.0.0.1:5672`. */
  amqpUrl: string;
  /** Redis URLs: one, or several independent masters for a Redlock quorum. Default `redis://127.0.0.1:6379`. */
  redisUrls: string[];
  /** Redis Cluster seed nodes: ids (leases and records) are sharded over its masters. Default: off (--redis is used). */
  redisCluster?: string[];
  /** Before acking, wait until this many replicas have a batch's completion records (Redis WAIT). Default 0. */
  redisWaitReplicas: number;
  /** Prefix of every Redis key. Default `dedup`. */
  prefix: string;
  /**
   * Dedup id space: ids are deduplicated among consumers with the same scope. Default: the
   * queue, so two services consuming one event from their own queues both run it. Name a
   * shared scope to deduplicate across queues on purpose.
   */
  dedupScope?: string;
  /** Completion record hashes per time slot: about the ids completed per half window / 100. Default 1024. */
  dedupBuckets: number;
  /** How long a completion record lives: the dedup window. Default 24h. */
  dedupTtlMs: number;
  /** Lease of the per-id lock; extended every third of it while the handler runs. Default 30s. */
  lockTtlMs: number;
  /** Handler runs per id (counted in Redis, so crash loops count) before dead-lettering. Default 5. */
  maxAttempts: number;
  /** JSON body field holding the id. Default `message_id`. */
  idField: string;
  /**
   * Where the id comes from, tried in order; the first source holding one wins. Default
   * `body,header:x-message-id,property`: the id the producer wrote in the body (the usual
   * `{"message_id": ...}`) wins over a message-id property, which many clients set afresh
   * on every publish. A later source holding a different id is logged (at most every 10s)
   * and counted (`dedup_id_disagreements_total`); the message runs under the winner.
   */
  idFrom: IdSource[];
  /** Largest body accepted; larger ones are dead-lettered. Default 1 MiB. */
  maxBytes: number;
  /** First retry delay after a handler failure; doubles per attempt. Default 1s. */
  retryDelayMs: number;
  /** Longest retry delay. Default 60s. */
  retryMaxDelayMs: number;
  /** Handler results up to this many bytes of JSON are kept in the completion record. Default 256. */
  resultMaxBytes: number;
  /** Type of the queues the pool creates (the work queue, `.dlq` and `.retry`); existing ones are used as they are. Default `classic`. */
  queueType: 'classic' | 'quorum';
  /** Quorum queues the pool creates: deliveries of a message before the broker dead-letters it to `<queue>.dlq`. Default: the broker's. */
  deliveryLimit?: number;
  /** On SIGTERM, how long in-flight handlers may run before their messages are requeued. Default 30s. */
  drainTimeoutMs: number;
  /** pino level. Default `info`. */
  logLevel: LogLevel;
  /** `pretty` (readable lines), `json` (one object per line), or `auto`: pretty when stdout is a terminal. Default `auto`. */
  logFormat: 'auto' | 'json' | 'pretty';
  /** How often a summary line (processed, duplicates, dead-lettered in the interval) is logged at info; 0 for never. Default 60s. */
  summaryIntervalMs: number;
  /** Longest a handler may run before its signal aborts and, after a grace period, its thread is terminated; 0 for none. Default 0. */
  handlerTimeoutMs: number;
  /**
   * A handler running longer than this is overdue: logged with its id, counted, shown in
   * status and on the dashboard, and a replica whose every handler slot is overdue is not
   * ready. It keeps running (only --handler-timeout stops handlers); 0 for never. Default 5m.
   */
  overdueAfterMs: number;
  /** Heap limit of each worker thread in MB (piscina resourceLimits); 0 for Node's default. Default 0. */
  workerHeapMb: number;
  /** A message whose id was completed with a different body: `dead-letter` it as ID_CONFLICT, or `ack` it as a duplicate. Default `dead-letter`. */
  onConflict: 'dead-letter' | 'ack';
  /** Postgres inbox mode: the database where the handler's writes and the inbox row commit together. Default: off. */
  inboxUrl?: string;
  /** CA bundle (PEM file) trusted for amqps:// and rediss:// connections. Default: the system's. */
  tlsCa?: string;
  /** Client certificate (PEM file) for amqps:// and rediss://. Default: none. */
  tlsCert?: string;
  /** Client key (PEM file) for amqps:// and rediss://. Default: none. */
  tlsKey?: string;
  /** Supervisor: replica processes on this host. Default 1. */
  replicas: number;
  /** Supervisor: admin HTTP endpoint (/metrics /healthz /readyz /status /scale), `host:port`. Default `127.0.0.1:9464`. */
  admin: string;
  /** Supervisor: bearer token required by mutating admin calls (scale). Default: none. */
  adminToken?: string;
}

type Kind<T> = {
  /** The expected form, as shown in error messages. */
  form: string;
  /** Convert a string (CLI, env) or typed value; return undefined when it does not fit. */
  coerce(value: unknown): T | undefined;
};

export interface OptionSpec<K extends keyof PoolOptions = keyof PoolOptions> {
  key: K;
  flag: string;
  env: string;
  doc: string;
  kind: Kind<NonNullable<PoolOptions[K]>>;
  default?: PoolOptions[K];
  /** May stay unset (no default, not required). */
  optional?: boolean;
  /** The default as a user would type it (`24h`, `1mb`), where that differs from String(default). */
  shown?: string;
  /** Never echoed back in an error message. */
  secret?: boolean;
}

// ---- value kinds -------------------------------------------------------------

function int(min: number, max: number): Kind<number> {
  return {
    form: `an integer from ${min} to ${max}`,
    coerce(v) {
      const n = typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v;
      return typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max ? n : undefined;
    },
  };
}

function duration(minMs: number): Kind<number> {
  return {
    form: `a duration of at least ${minMs}ms, like 500ms, 30s, 5m, 24h or 7d (a bare number is milliseconds)`,
    coerce(v) {
      const ms = typeof v === 'string' ? parseDuration(v) : v;
      return typeof ms === 'number' && Number.isFinite(ms) && ms >= minMs ? Math.round(ms) : undefined;
    },
  };
}

function bytes(min: number): Kind<number> {
  const units: Record<string, number> = { '': 1, b: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2 };
  return {
    form: `a size of at least ${min} bytes, like 65536, 64kb or 1mb`,
    coerce(v) {
      let n: unknown = v;
      if (typeof v === 'string') {
        const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(v);
        const unit = m ? units[m[2]!.toLowerCase()] : undefined;
        n = m && unit ? Number(m[1]) * unit : undefined;
      }
      return typeof n === 'number' && Number.isInteger(n) && n >= min ? n : undefined;
    },
  };
}

function text(pattern: RegExp, form: string): Kind<string> {
  return {
    form,
    coerce: (v) => (typeof v === 'string' && pattern.test(v) ? v : undefined),
  };
}

function oneOf<T extends string>(...values: T[]): Kind<T> {
  return {
    form: `one of ${values.join(', ')}`,
    coerce: (v) => (values.includes(v as T) ? (v as T) : undefined),
  };
}

function urls(protocols: string[], form: string): Kind<string[]> {
  const ok = (u: string): boolean => {
    try {
      return protocols.includes(new URL(u).protocol);
    } catch {
      return false;
    }
  };
  return {
    form,
    coerce(v) {
      const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v;
      return Array.isArray(list) && list.length > 0 && list.every((u) => typeof u === 'string' && ok(u))
        ? (list as string[])
        : undefined;
    },
  };
}

/** Several URLs kept as one comma-separated string (each checked). */
function urlList(protocols: string[], form: string): Kind<string> {
  const list = urls(protocols, form);
  return { form, coerce: (v) => list.coerce(v)?.join(',') };
}

function url(protocols: string[], form: string): Kind<string> {
  const list = urls(protocols, form);
  return { form, coerce: (v) => (typeof v === 'string' && !v.includes(',') ? list.coerce(v)?.[0] : undefined) };
}

const idSources: Kind<IdSource[]> = {
  form: 'a comma-separated list of property, header:NAME, body, content',
  coerce(v) {
    const parts = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v;
    if (!Array.isArray(parts) || parts.length === 0) return undefined;
    const out: IdSource[] = [];
    for (const p of parts) {
      if (typeof p === 'object' && p !== null && 'kind' in p) {
        const s = p as IdSource;
        if (s.kind === 'header' ? typeof s.name === 'string' && s.name.length > 0 : ['property', 'body', 'content'].includes(s.kind)) {
          out.push(s);
          continue;
        }
        return undefined;
      }
      if (p === 'property' || p === 'body' || p === 'content') out.push({ kind: p });
      else if (typeof p === 'string' && /^header:[\w.-]+$/.test(p)) out.push({ kind: 'header', name: p.slice(7) });
      else return undefined;
    }
    return out;
  },
};

// ---- the table -----------------------------------------------------------------

function spec<K extends keyof PoolOptions>(s: OptionSpec<K>): OptionSpec<K> {
  return s;
}

const REDIS_DEFAULT = ['redis://127.0.0.1:6379'];

export const OPTION_SPECS = [
  spec({ key: 'queue', flag: 'queue', env: 'DEDUP_QUEUE', doc: 'queue to consume', kind: text(/^[\w.:-]{1,200}$/, 'a queue name of letters, digits, . _ : - (at most 200)') }),
  spec({ key: 'handler', flag: 'handler', env: 'DEDUP_HANDLER', doc: 'handler module path (.js/.mjs/.cjs/.ts)', kind: text(/\.([cm]?js|[cm]?ts)$/, 'a path to a .js, .mjs, .cjs or .ts module') }),
  spec({ key: 'threads', flag: 'threads', env: 'DEDUP_THREADS', doc: 'worker threads per replica (0: run the handler on the main thread)', kind: int(0, 256), default: defaultThreads() }),
  spec({ key: 'inlineBelowUs', flag: 'inline-below-us', env: 'DEDUP_INLINE_BELOW_US', doc: 'handlers whose calls keep their thread working less than this (microseconds of CPU per call; awaiting does not count) run on the main thread, without the hop (0: always on threads)', kind: int(0, 1_000_000), default: 100 }),
  spec({ key: 'concurrency', flag: 'concurrency', env: 'DEDUP_CONCURRENCY', doc: 'handler calls at once per thread (1 for CPU-bound handlers)', kind: int(1, 1000), default: 8 }),
  spec({ key: 'prefetch', flag: 'prefetch', env: 'DEDUP_PREFETCH', doc: 'unacked deliveries per replica', kind: int(1, 65535), default: 100 }),
  spec({ key: 'batchSize', flag: 'batch-size', env: 'DEDUP_BATCH_SIZE', doc: 'most deliveries handled as one batch', kind: int(1, 65535), default: 256 }),
  spec({ key: 'amqpUrl', flag: 'amqp', env: 'DEDUP_AMQP_URL', doc: 'RabbitMQ URL, or the nodes of one cluster separated by commas', kind: urlList(['amqp:', 'amqps:'], 'an amqp:// or amqps:// URL, or several (the nodes of one cluster) separated by commas'), default: 'amqp://guest:guest@127.0.0.1:5672' }),
  spec({ key: 'redisUrls', flag: 'redis', env: 'DEDUP_REDIS_URL', doc: 'Redis URL, or comma-separated independent masters', kind: urls(['redis:', 'rediss:'], 'a redis:// or rediss:// URL, or several separated by commas'), default: REDIS_DEFAULT }),
  spec({ key: 'redisCluster', flag: 'redis-cluster', env: 'DEDUP_REDIS_CLUSTER', doc: 'Redis Cluster seed node URLs, comma-separated (instead of --redis)', kind: urls(['redis:', 'rediss:'], 'a redis:// or rediss:// URL, or several separated by commas'), optional: true }),
  spec({ key: 'redisWaitReplicas', flag: 'redis-wait-replicas', env: 'DEDUP_REDIS_WAIT_REPLICAS', doc: 'replicas that must have the completion records before the acks (Redis WAIT)', kind: int(0, 16), default: 0 }),
  spec({ key: 'prefix', flag: 'prefix', env: 'DEDUP_PREFIX', doc: 'Redis key prefix', kind: text(/^[\w.:-]{1,64}$/, 'letters, digits, . _ : - (at most 64)'), default: 'dedup' }),
  spec({ key: 'dedupScope', flag: 'dedup-scope', env: 'DEDUP_SCOPE', doc: 'dedup id space shared by consumers that name it (default: the queue)', kind: text(/^[\w.:-]{1,200}$/, 'a scope name of letters, digits, . _ : - (at most 200)'), optional: true }),
  spec({ key: 'dedupBuckets', flag: 'dedup-buckets', env: 'DEDUP_BUCKETS', doc: 'completion record hashes per time slot (fixed per prefix and scope: docs/layout.md)', kind: int(1, 1 << 20), default: 1024 }),
  spec({ key: 'dedupTtlMs', flag: 'dedup-ttl', env: 'DEDUP_TTL', doc: 'dedup window (completion record TTL; stored per prefix and scope, changed with layout set)', kind: duration(1000), default: 24 * 3600_000, shown: '24h' }),
  spec({ key: 'lockTtlMs', flag: 'lock-ttl', env: 'DEDUP_LOCK_TTL', doc: 'lock lease, extended while the handler runs', kind: duration(100), default: 30_000, shown: '30s' }),
  spec({ key: 'maxAttempts', flag: 'max-attempts', env: 'DEDUP_MAX_ATTEMPTS', doc: 'handler runs per id before dead-lettering', kind: int(1, 1000), default: 5 }),
  spec({ key: 'idField', flag: 'id-field', env: 'DEDUP_ID_FIELD', doc: 'JSON body field holding the id', kind: text(/^[\w.-]{1,100}$/, 'a field name of letters, digits, . _ -'), default: 'message_id' }),
  spec({ key: 'idFrom', flag: 'id-from', env: 'DEDUP_ID_FROM', doc: 'id sources, tried in order: the first holding an id wins', kind: idSources, default: [{ kind: 'body' }, { kind: 'header', name: 'x-message-id' }, { kind: 'property' }], shown: 'body,header:x-message-id,property' }),
  spec({ key: 'maxBytes', flag: 'max-bytes', env: 'DEDUP_MAX_BYTES', doc: 'largest body accepted', kind: bytes(1), default: 1024 * 1024, shown: '1mb' }),
  spec({ key: 'retryDelayMs', flag: 'retry-delay', env: 'DEDUP_RETRY_DELAY', doc: 'first retry delay (doubles per attempt)', kind: duration(0), default: 1000, shown: '1s' }),
  spec({ key: 'retryMaxDelayMs', flag: 'retry-max-delay', env: 'DEDUP_RETRY_MAX_DELAY', doc: 'longest retry delay', kind: duration(0), default: 60_000, shown: '60s' }),
  spec({ key: 'resultMaxBytes', flag: 'result-max-bytes', env: 'DEDUP_RESULT_MAX_BYTES', doc: 'handler results up to this size are kept in the completion record', kind: bytes(0), default: 256 }),
  spec({ key: 'queueType', flag: 'queue-type', env: 'DEDUP_QUEUE_TYPE', doc: 'type of the queues the pool creates (work, .dlq, .retry)', kind: oneOf('classic', 'quorum'), default: 'classic' }),
  spec({ key: 'deliveryLimit', flag: 'delivery-limit', env: 'DEDUP_DELIVERY_LIMIT', doc: "deliveries per message before a quorum queue the pool creates dead-letters it to .dlq (default: the broker's)", kind: int(1, 1_000_000), optional: true }),
  spec({ key: 'drainTimeoutMs', flag: 'drain-timeout', env: 'DEDUP_DRAIN_TIMEOUT', doc: 'how long in-flight handlers may finish on shutdown', kind: duration(0), default: 30_000, shown: '30s' }),
  spec({ key: 'logLevel', flag: 'log-level', env: 'DEDUP_LOG_LEVEL', doc: 'log level', kind: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'), default: 'info' }),
  spec({ key: 'logFormat', flag: 'log-format', env: 'DEDUP_LOG_FORMAT', doc: 'log lines: pretty, json, or auto (pretty on a terminal)', kind: oneOf('auto', 'json', 'pretty'), default: 'auto' }),
  spec({ key: 'summaryIntervalMs', flag: 'summary-interval', env: 'DEDUP_SUMMARY_INTERVAL', doc: 'how often to log a summary line (0: never)', kind: duration(0), default: 60_000, shown: '60s' }),
  spec({ key: 'handlerTimeoutMs', flag: 'handler-timeout', env: 'DEDUP_HANDLER_TIMEOUT', doc: 'longest handler run (0: none)', kind: duration(0), default: 0 }),
  spec({ key: 'overdueAfterMs', flag: 'overdue-after', env: 'DEDUP_OVERDUE_AFTER', doc: 'a handler running longer is reported overdue; every slot overdue: not ready (0: never)', kind: duration(0), default: 300_000, shown: '5m' }),
  spec({ key: 'workerHeapMb', flag: 'worker-heap-mb', env: 'DEDUP_WORKER_HEAP_MB', doc: 'heap limit per worker thread in MB (0: default)', kind: int(0, 65536), default: 0 }),
  spec({ key: 'onConflict', flag: 'on-conflict', env: 'DEDUP_ON_CONFLICT', doc: 'same id, other body: dead-letter or ack', kind: oneOf('dead-letter', 'ack'), default: 'dead-letter' }),
  spec({ key: 'inboxUrl', flag: 'inbox', env: 'DEDUP_INBOX_URL', doc: 'Postgres inbox mode: database URL', kind: url(['postgres:', 'postgresql:'], 'a postgres:// URL'), optional: true }),
  spec({ key: 'tlsCa', flag: 'tls-ca', env: 'DEDUP_TLS_CA', doc: 'CA bundle (PEM) for amqps:// and rediss://', kind: text(/^.+$/, 'a file path'), optional: true }),
  spec({ key: 'tlsCert', flag: 'tls-cert', env: 'DEDUP_TLS_CERT', doc: 'client certificate (PEM) for amqps:// and rediss://', kind: text(/^.+$/, 'a file path'), optional: true }),
  spec({ key: 'tlsKey', flag: 'tls-key', env: 'DEDUP_TLS_KEY', doc: 'client key (PEM) for amqps:// and rediss://', kind: text(/^.+$/, 'a file path'), optional: true }),
  spec({ key: 'replicas', flag: 'replicas', env: 'DEDUP_REPLICAS', doc: 'replica processes (supervisor)', kind: int(1, 64), default: 1 }),
  spec({ key: 'admin', flag: 'admin', env: 'DEDUP_ADMIN', doc: 'admin HTTP endpoint host:port (supervisor)', kind: text(/^[\w.-]+:\d{1,5}$|^\[[\da-f:]+\]:\d{1,5}$/i, 'host:port, like 127.0.0.1:9464 (port 0 picks a free one)'), default: '127.0.0.1:9464' }),
  spec({ key: 'adminToken', flag: 'admin-token', env: 'DEDUP_ADMIN_TOKEN', doc: 'bearer token for admin mutations (supervisor)', kind: text(/^\S{8,}$/, 'at least 8 characters without spaces'), optional: true, secret: true }),
] as const satisfies readonly OptionSpec<any>[];

export type OptionsInput = { [K in keyof PoolOptions]?: PoolOptions[K] | string };

/** Fill every missing option with its default. Pure. */
export function withDefaults(input: OptionsInput): OptionsInput {
  const out: Record<string, unknown> = { ...input };
  for (const s of OPTION_SPECS) {
    if (out[s.key] === undefined && s.default !== undefined) out[s.key] = s.default;
  }
  return out as OptionsInput;
}

/** The default of an option the way it is typed on a command line (`24h`, `1mb`, `redis://...`). */
export function defaultText(s: OptionSpec): string | undefined {
  if (s.shown !== undefined) return s.shown;
  if (s.default === undefined) return undefined;
  return Array.isArray(s.default) ? s.default.join(',') : String(s.default);
}

/**
 * One option checked and converted; undefined when unset and optional. The value
 * given is echoed back with any credential in it redacted, wherever it came from.
 */
export function checkOption(s: OptionSpec, raw: unknown): unknown {
  if (raw === undefined) {
    if (s.optional) return undefined;
    throw new ConfigError(s.flag, `--${s.flag} is required (${s.kind.form}; env ${s.env})`);
  }
  const value = s.kind.coerce(raw);
  if (value === undefined) {
    const got = s.secret ? `a value of ${String(raw).length} character(s)` : redactSecrets(JSON.stringify(raw) ?? String(raw));
    throw new ConfigError(s.flag, `--${s.flag} (env ${s.env}) must be ${s.kind.form}; got ${got}`);
  }
  return value;
}

/** Check and convert every option; the first bad one throws a ConfigError naming its flag. Pure. */
export function validate(input: OptionsInput): PoolOptions {
  const out: Record<string, unknown> = {};
  for (const s of OPTION_SPECS as readonly OptionSpec[]) {
    const value = checkOption(s, input[s.key]);
    if (value !== undefined) out[s.key] = value;
  }
  const opts = out as unknown as PoolOptions;
  if (opts.retryMaxDelayMs < opts.retryDelayMs) {
    throw new ConfigError('retry-max-delay', `--retry-max-delay must be at least --retry-delay (${opts.retryDelayMs}ms)`);
  }
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    throw new ConfigError(opts.tlsCert ? 'tls-key' : 'tls-cert', '--tls-cert and --tls-key go together: give both or neither');
  }
  if (opts.redisCluster && input.redisUrls !== undefined && String(input.redisUrls) !== String(REDIS_DEFAULT)) {
    throw new ConfigError('redis-cluster', '--redis-cluster and --redis name two different stores: give one of them');
  }
  if (opts.dedupTtlMs < opts.lockTtlMs) {
    throw new ConfigError('dedup-ttl', `--dedup-ttl must be at least --lock-ttl (${opts.lockTtlMs}ms)`);
  }
  return opts;
}

export function resolveOptions(input: OptionsInput): PoolOptions {
  return validate(withDefaults(input));
}

/**
 * Options from CLI flags (already split into name -> string) with env as fallback.
 * Unknown flags are rejected here so a typo never silently falls back to a default.
 */
export function optionsFromFlags(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv = process.env): OptionsInput {
  const known = new Map<string, OptionSpec>((OPTION_SPECS as readonly OptionSpec[]).map((s) => [s.flag, s]));
  for (const name of Object.keys(flags)) {
    if (!known.has(name)) throw new ConfigError(name, `unknown flag --${name}`);
  }
  const out: Record<string, unknown> = {};
  for (const s of known.values()) {
    const v = flags[s.flag] ?? env[s.env];
    if (v !== undefined) out[s.key] = v;
  }
  return out as OptionsInput;
}
