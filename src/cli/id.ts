/**
 * dedup-pool id show|forget ID --queue Q: what the dedup store knows about one id
 * (and whether `<queue>.dlq` holds it), and letting a completed id run again.
 */
import type { DedupStore, IdState } from '../store/dedup-store.js';
import { openStore } from '../store/open-store.js';
import { listDeadLetters, type DeadLetter } from '../amqp/dead-letters.js';
import { queueNames } from '../amqp/broker.js';
import { ConfigError, StoreUnavailableError, errorMessage } from '../common/errors.js';
import { redactUrl } from '../common/logger.js';
import { keysFor, scopeOf } from '../store/keys.js';
import { followStoredLayout } from '../store/layout-change.js';
import { OPTION_SPECS, checkOption, type OptionSpec, type PoolOptions } from '../common/options.js';
import { decodeRecord } from '../store/records.js';
import { lookUpFollowups, type FollowupLookup } from './id-followups.js';
import { loadTls, type TlsFiles } from '../common/tls.js';
import { optionFlag } from './pool-flags.js';
import { CliFailure, EXIT, type Command } from './types.js';

/** The options that say where an id's keys are. */
const STORE_FLAGS = ['queue', 'redis', 'redis-cluster', 'prefix', 'dedup-scope', 'dedup-ttl', 'dedup-buckets', 'tls-ca', 'tls-cert', 'tls-key'];
export const STORE_SPECS = (OPTION_SPECS as readonly OptionSpec[]).filter((s) => STORE_FLAGS.includes(s.flag));
const AMQP_SPEC = (OPTION_SPECS as readonly OptionSpec[]).find((s) => s.flag === 'amqp')!;
const INBOX_SPEC = (OPTION_SPECS as readonly OptionSpec[]).find((s) => s.flag === 'inbox')!;
/** Reading the dead-letter queue gives up after this long: the report then says it cannot tell. */
const DLQ_READ_MS = 10_000;

/** What `<queue>.dlq` says about an id: its copies there, or why it could not be read. */
export type DeadLetterLookup = { queue: string; copies: DeadLetter[] } | { queue: string; unreadable: string };

/**
 * An id as the store knows it, readable: what `id show --json` prints. With no record
 * and no lease, the dead-letter queue tells `dead-lettered` from `never-seen`; `unknown`
 * when it could not be read.
 */
export interface IdReport {
  id: string;
  prefix: string;
  scope: string;
  state: 'completed' | 'running' | 'dead-lettered' | 'never-seen' | 'unknown';
  fingerprint?: string;
  result?: unknown;
  /** The record lives at most this long (a record hash expires with its time slot). */
  windowLeftMs?: number;
  lease?: { token: string; leftMs: number };
  fencingToken?: number;
  deadLetters: DeadLetterLookup;
  /** Inbox mode (`--inbox`): the follow-ups its handler published, from the outbox. */
  followups?: FollowupLookup;
}

export async function showId(store: DedupStore, where: { prefix: string; scope: string }, id: string, deadLetters: DeadLetterLookup): Promise<IdReport> {
  const s: IdState = await store.inspect(id);
  const record = s.record === undefined ? undefined : decodeRecord(s.record);
  const unseen = 'unreadable' in deadLetters ? 'unknown' : deadLetters.copies.length > 0 ? 'dead-lettered' : 'never-seen';
  return {
    id,
    ...where,
    state: record ? 'completed' : s.lease ? 'running' : unseen,
    ...(record && { fingerprint: record.fingerprint, ...('result' in record && { result: record.result }) }),
    ...(s.recordTtlMs !== undefined && { windowLeftMs: s.recordTtlMs }),
    ...(s.lease && { lease: { token: s.lease.token, leftMs: s.lease.ttlMs } }),
    ...(s.fence !== undefined && { fencingToken: s.fence }),
    deadLetters,
  };
}

/** The id's copies in `<queue>.dlq`, read as `dlq list` reads it: nothing consumed. */
export async function lookUpDeadLetters(queue: string, amqpUrl: string, id: string, tls?: TlsFiles): Promise<DeadLetterLookup> {
  const dlq = queueNames(queue).dlq;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer from RabbitMQ in ${DLQ_READ_MS / 1000}s`)), DLQ_READ_MS)));
  try {
    const listing = await Promise.race([listDeadLetters({ queue, amqpUrl, ...(tls && { tls }) }), timeout]);
    return { queue: dlq, copies: listing.messages.filter((m) => m.id === id) };
  } catch (err) {
    return { queue: dlq, unreadable: errorMessage(err) };
  } finally {
    clearTimeout(timer);
  }
}

function ms(n: number): string {
  if (n < 10_000) return `${n}ms`;
  const s = Math.round(n / 1000);
  return s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

const STATES: Record<IdReport['state'], string> = {
  completed: 'completed',
  running: 'running',
  'dead-lettered': 'dead-lettered: no completion record or lease, and a copy is in the dead-letter queue',
  'never-seen': 'never seen: no completion record, no lease, not in the dead-letter queue (or its record outlived the dedup window)',
  unknown: 'no completion record or lease; dead-lettered or never seen cannot be told (the dead-letter queue could not be read)',
};

function describe(r: IdReport): string {
  const lines = [`id ${r.id} (prefix ${r.prefix}, scope ${r.scope}): ${STATES[r.state]}`];
  if (r.fingerprint) lines.push(`  body fingerprint  ${r.fingerprint}`, `  result            ${'result' in r ? JSON.stringify(r.result) : '(none kept)'}`);
  if (r.windowLeftMs !== undefined) lines.push(`  window left       at most ${ms(r.windowLeftMs)}`);
  if (r.lease) lines.push(`  lease             held by ${r.lease.token}, ${ms(r.lease.leftMs)} left`);
  if (r.fencingToken !== undefined) lines.push(`  fencing token     ${r.fencingToken} (attempts so far)`);
  const d = r.deadLetters;
  if ('unreadable' in d) lines.push(`  dead letters      ${d.queue} not read: ${d.unreadable}`);
  else if (d.copies.length === 0) lines.push(`  dead letters      none in ${d.queue}`);
  for (const c of 'copies' in d ? d.copies : []) {
    lines.push(`  dead letter       in ${d.queue}: ${c.reason} (${c.detail}), ${c.when ?? 'time unknown'}${c.attempts === null ? '' : `, after ${c.attempts} attempt(s)`}`);
  }
  const f = r.followups;
  if (f && 'unreadable' in f) lines.push(`  follow-ups        outbox not read: ${f.unreadable}`);
  else if (f) lines.push(`  follow-ups        ${f.rows.length === 0 ? 'none in the outbox' : f.rows.map((x) => `${x.id} (${x.sent ? 'sent' : 'not sent yet'})`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/** The store options from flags, env and defaults, each checked like the pool checks it. */
export function storeOptions(flags: Record<string, string | true>, env: NodeJS.ProcessEnv): PoolOptions {
  const out: Record<string, unknown> = {};
  for (const s of STORE_SPECS) {
    const given = flags[s.flag];
    const value = checkOption(s, (typeof given === 'string' ? given : undefined) ?? env[s.env] ?? s.default);
    if (value !== undefined) out[s.key] = value;
  }
  return { ...out, lockTtlMs: 30_000, redisWaitReplicas: 0 } as PoolOptions;
}

/** The clients connect in the background and fail fast until then: wait a little for them. */
export async function connected(store: DedupStore, opts: PoolOptions): Promise<void> {
  for (const until = Date.now() + 5000; !(await store.healthy()); ) {
    if (Date.now() > until) throw new StoreUnavailableError(`cannot reach Redis at ${(opts.redisCluster ?? opts.redisUrls).map(redactUrl).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const id: Command = {
  name: 'id',
  summary: "show an id's completion record and lease, or forget it so it runs again",
  usage: 'id show ID --queue Q [--json]\n  dedup-pool id forget ID --queue Q',
  about: `show: the prefix and scope looked under, the id's completion record (body fingerprint,
result), time left in the dedup window, lease holder and fencing token, and its copies in
Q.dlq (read without consuming, as dlq list does): with no record and no lease, that tells
dead-lettered from never seen. forget: remove its completion record so its next delivery
runs the handler; refused while a replica holds its lease.
Give the pool's own --queue, --prefix, --redis (or --redis-cluster), --amqp and --dedup-* values.

Exit codes: 0 done; 1 forget refused (the id is running) or Redis unreachable; 2 bad usage.`,
  flags: [
    ...STORE_SPECS.map((s) => optionFlag(s)),
    optionFlag(AMQP_SPEC, { doc: 'show: RabbitMQ, to look for the id in Q.dlq' }),
    optionFlag(INBOX_SPEC, { doc: 'show: the inbox database, to list the follow-up ids its handler published (the outbox)' }),
    { name: 'json', type: 'boolean', doc: 'show: print the report as one JSON object' },
  ],
  positionals: 2,
  async run({ flags, positionals }, env: NodeJS.ProcessEnv = process.env): Promise<number> {
    const [action, target] = positionals;
    if ((action !== 'show' && action !== 'forget') || target === undefined) {
      throw new ConfigError('id', 'expected "id show ID" or "id forget ID" (dedup-pool id --help)');
    }
    const opts = storeOptions(flags, env);
    const scope = scopeOf(opts);
    const tls = loadTls(opts);
    const store = openStore(opts, tls);
    try {
      await connected(store, opts);
      await followStoredLayout(store, keysFor(opts.prefix, scope));
      if (action === 'show') {
        const amqpUrl = checkOption(AMQP_SPEC, (typeof flags.amqp === 'string' ? flags.amqp : undefined) ?? env[AMQP_SPEC.env] ?? AMQP_SPEC.default) as string;
        const report = await showId(store, { prefix: opts.prefix, scope }, target, await lookUpDeadLetters(opts.queue, amqpUrl, target, tls));
        const inbox = typeof flags.inbox === 'string' ? flags.inbox : env[INBOX_SPEC.env];
        if (inbox) report.followups = await lookUpFollowups(checkOption(INBOX_SPEC, inbox) as string, scope, target);
        process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : describe(report));
        return EXIT.OK;
      }
      const outcome = await store.forget(target);
      if (outcome === 'leased') throw new CliFailure(`id ${target} (scope ${scope}) is running now: a replica holds its lease; try again when it is done`, EXIT.FAILED);
      process.stdout.write(outcome === 'forgotten' ? `id ${target} (scope ${scope}) forgotten: its next delivery runs the handler\n` : `id ${target} (scope ${scope}) has no completion record: nothing to forget\n`);
      return EXIT.OK;
    } finally {
      await store.close();
    }
  },
};
