/** `dedup-pool dlq list | replay | purge`: the dead-letter queue from the terminal (logic in src/amqp/dead-letters.ts). */
import { createInterface } from 'node:readline/promises';
import { listDeadLetters, purgeDeadLetters, replayDeadLetters, type DeadLetterFilter, type DeadLetterListing, type DeadLetterOptions } from '../amqp/dead-letters.js';
import { ConfigError, DedupPoolError } from '../common/errors.js';
import { flagOrEnv } from './args.js';
import { CliFailure, EXIT, type Command, type FlagSpec, type ParsedArgs } from './types.js';

const ABOUT = `list: counts by reason, then one line per message (id, reason, detail, when, attempts);
  nothing is consumed or reordered.
replay: moves matching messages back to Q, ids kept, attempts reset; each is confirmed on Q
  before it leaves Q.dlq.
purge: deletes the messages with --reason R; asks first when input is a terminal (--yes skips it).

Exit codes: 0 done; 1 the broker failed; 2 bad flag, unknown queue, a --reason or --id that
matches nothing, or a dead-letter queue holding messages dedup-pool did not write.`;

const FLAGS: FlagSpec[] = [
  { name: 'queue', type: 'string', value: 'Q', env: 'DEDUP_QUEUE', required: true, doc: 'the work queue; its dead letters are in Q.dlq' },
  { name: 'reason', type: 'string', value: 'R', doc: 'only messages dead-lettered for this reason (x-dedup-reason)' },
  { name: 'id', type: 'string', value: 'ID', doc: 'only the message with this id' },
  { name: 'limit', type: 'string', value: 'N', doc: 'at most N matching messages, from the head of the queue' },
  { name: 'json', type: 'boolean', doc: 'list: print { total, byReason, matched, messages } as JSON' },
  { name: 'yes', type: 'boolean', doc: 'purge: do not ask for confirmation' },
  { name: 'amqp', type: 'string', value: 'URL', env: 'DEDUP_AMQP_URL', default: 'amqp://guest:guest@127.0.0.1:5672', doc: 'RabbitMQ (the nodes of a cluster comma-separated)' },
];

export const dlq: Command = {
  name: 'dlq',
  summary: 'list, replay or purge the dead-letter queue <queue>.dlq',
  usage: 'dlq list|replay|purge --queue Q [--reason R] [--id ID] [--limit N] [--json] [--yes]',
  about: ABOUT,
  flags: FLAGS,
  positionals: 1,
  // A dead-letter queue dedup-pool did not write is the wrong queue given: a usage error.
  run: (args) =>
    run(args).catch((err: unknown) => {
      throw err instanceof DedupPoolError && err.code === 'DLQ_FOREIGN' ? new CliFailure(err.message, EXIT.USAGE) : err;
    }),
};

const flag = (name: string): FlagSpec => FLAGS.find((f) => f.name === name)!;

async function run(args: ParsedArgs): Promise<number> {
  const [sub] = args.positionals;
  const f = args.flags;
  const queue = flagOrEnv(args, flag('queue'));
  if (!queue) throw new ConfigError('queue', '--queue is required (or DEDUP_QUEUE)');
  const opts: DeadLetterOptions = { queue, ...(flagOrEnv(args, flag('amqp')) !== undefined && { amqpUrl: flagOrEnv(args, flag('amqp')) }) };
  const reason = typeof f.reason === 'string' ? f.reason : undefined;
  const filter: DeadLetterFilter = {
    ...(reason !== undefined && { reason }),
    ...(typeof f.id === 'string' && { id: f.id }),
    ...(typeof f.limit === 'string' && { limit: parseLimit(f.limit) }),
  };
  switch (sub) {
    case 'list': {
      const listing = await listDeadLetters(opts, filter);
      process.stdout.write(f.json === true ? `${JSON.stringify(listing, null, 2)}\n` : formatListing(`${queue}.dlq`, listing));
      return EXIT.OK;
    }
    case 'replay': {
      const { replayed, left } = await replayDeadLetters(opts, filter);
      process.stdout.write(`replayed ${replayed} message(s) to ${queue}; ${left} left in ${queue}.dlq\n`);
      return EXIT.OK;
    }
    case 'purge': {
      if (reason === undefined) throw new ConfigError('reason', 'dlq purge needs --reason R (see "dedup-pool dlq list" for the reasons present)');
      const ask = (n: number): Promise<boolean> => (f.yes === true ? Promise.resolve(true) : confirm(`delete ${n} message(s) with reason ${reason} from ${queue}.dlq?`));
      const { purged, left } = await purgeDeadLetters(opts, { ...filter, reason }, ask);
      process.stdout.write(`purged ${purged} message(s) from ${queue}.dlq; ${left} left\n`);
      return EXIT.OK;
    }
    default:
      throw new ConfigError('command', `dlq needs list, replay or purge${sub === undefined ? '' : `; got "${sub}"`} (dedup-pool dlq --help)`);
  }
}

function parseLimit(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError('limit', `--limit must be a positive integer; got "${s}"`);
  return n;
}

/** Ask on a terminal only: a script (input not a terminal) is never asked. */
async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return true;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

export function formatListing(dlq: string, l: DeadLetterListing): string {
  const counts = Object.entries(l.byReason).sort((a, b) => b[1] - a[1]);
  const lines = [`${dlq}: ${l.total} message(s)`, ...counts.map(([reason, n]) => `  ${reason.padEnd(16)} ${n}`)];
  if (l.messages.length > 0) {
    lines.push('', `${'id'.padEnd(24)} ${'reason'.padEnd(16)} ${'when'.padEnd(24)} attempts  detail`);
    for (const m of l.messages) {
      lines.push(`${(m.id ?? '-').padEnd(24)} ${m.reason.padEnd(16)} ${(m.when ?? '-').padEnd(24)} ${String(m.attempts ?? '-').padEnd(9)} ${m.detail.replace(/\s+/g, ' ')}`);
    }
    if (l.matched > l.messages.length) lines.push(`(${l.matched - l.messages.length} more; raise --limit)`);
  }
  return `${lines.join('\n')}\n`;
}
