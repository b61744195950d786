/**
 * dedup-pool start | publish | help
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ConfigError } from './errors.js';
import { OPTION_SPECS, optionsFromFlags } from './options.js';
import { Producer } from './producer.js';
import { Replica } from './replica.js';

const USAGE = `Usage:
  dedup-pool start --queue Q --handler PATH [options]   consume Q, running each message id once
  dedup-pool publish --queue Q [--file F] [--amqp URL] [--id-field F]
                                                          publish JSON lines (stdin or F) with confirms
  dedup-pool help

Options of start (each also from its env variable):
${OPTION_SPECS.map((s) => `  --${s.flag.padEnd(18)} ${s.env.padEnd(24)} ${s.doc}${'default' in s ? ` (default ${JSON.stringify(s.default)})` : ''}`).join('\n')}
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return start(rest);
    case 'publish':
      return publish(rest);
    case 'help':
    case '--help':
    case '-h':
    case undefined:
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new ConfigError('command', `unknown command "${command}" (expected start, publish or help)`);
  }
}

function flags(args: string[], names: readonly string[]): Record<string, string | undefined> {
  try {
    const { values } = parseArgs({
      args,
      options: Object.fromEntries(names.map((n) => [n, { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    });
    return values as Record<string, string | undefined>;
  } catch (err) {
    throw new ConfigError('flags', `${(err as Error).message}\n\n${USAGE}`);
  }
}

async function start(args: string[]): Promise<number> {
  const replica = new Replica(optionsFromFlags(flags(args, OPTION_SPECS.map((s) => s.flag))));
  await replica.start();
  return new Promise<number>((resolve) => {
    const shutdown = (signal: string): void => {
      replica.log.info({ signal }, 'shutdown requested');
      replica.stop().then(() => resolve(0), () => resolve(1));
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    replica.once('fatal', () => resolve(1));
  });
}

async function publish(args: string[]): Promise<number> {
  const f = flags(args, ['queue', 'file', 'amqp', 'id-field']);
  if (!f.queue) throw new ConfigError('queue', '--queue is required');
  const producer = new Producer({
    queue: f.queue,
    amqpUrl: f.amqp ?? process.env.DEDUP_AMQP_URL,
    idField: f['id-field'] ?? process.env.DEDUP_ID_FIELD,
  });
  const input = f.file ? createReadStream(f.file) : process.stdin;
  let line = 0;
  let published = 0;
  try {
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      line += 1;
      if (text.trim() === '') continue;
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (err) {
        throw new ConfigError('input', `line ${line} is not JSON: ${(err as Error).message}`);
      }
      await producer.publish(body);
      published += 1;
    }
  } finally {
    await producer.close();
  }
  process.stderr.write(`published ${published} message(s) to ${f.queue}\n`);
  return 0;
}
