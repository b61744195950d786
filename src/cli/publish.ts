/**
 * `dedup-pool publish`: JSON lines to a queue with publisher confirms. A line must
 * carry its message id (resending the file is then deduplicated) unless
 * --generate-ids says otherwise. Each line is parsed only to find its id, by the
 * pool's own rule, and its bytes are sent as they are: re-serializing would round
 * large integers and drop trailing zeros, so the pool would see another body (and
 * an ID_CONFLICT if the same id came from elsewhere). Up to WINDOW publishes await
 * their confirms at once; a failure reports how many lines before it were confirmed.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { ConfigError, errorMessage } from '../common/errors.js';
import { OPTION_SPECS, checkOption, defaultText, type OptionSpec } from '../common/options.js';
import { parseDelivery } from '../amqp/message.js';
import { Producer } from '../amqp/producer.js';
import { redactUrl } from '../common/redact.js';
import { uuidv7 } from '../common/uuidv7.js';
import { flagOrEnv } from './args.js';
import { optionFlag } from './pool-flags.js';
import { CliFailure, EXIT, type Command, type FlagSpec } from './types.js';

/** Publishes awaiting their confirm at once. */
export const WINDOW = 1000;
const PROGRESS_MS = 250;

const spec = (flag: string): OptionSpec => (OPTION_SPECS as readonly OptionSpec[]).find((s) => s.flag === flag)!;
const QUEUE = spec('queue');
const AMQP = spec('amqp');
const ID_FIELD = spec('id-field');

const flags: FlagSpec[] = [
  optionFlag(QUEUE, { doc: 'queue to publish to (created durable if missing, with its .dlq and .retry)' }),
  { name: 'file', type: 'string', value: 'FILE', doc: 'read JSON lines from FILE', default: 'stdin' },
  optionFlag(AMQP),
  optionFlag(ID_FIELD, { doc: 'JSON body field holding the message id' }),
  {
    name: 'generate-ids',
    type: 'boolean',
    doc: 'a line without an id gets a new UUIDv7: added as the first field of a JSON object line (the one case a line\'s bytes change), printed on stdout as "LINE ID"',
  },
];

/** A line ready to send: its bytes, the id it goes under, and whether that id was generated. */
export type PreparedLine = { ok: true; content: Buffer; id: string; generated: boolean } | { ok: false; problem: string };

/**
 * Find a line's id with the pool's rule (a string, or an integer JSON number, in the
 * body field; checked as the pool checks it), without re-serializing the line.
 */
export function prepareLine(text: string, idField: string, generateIds: boolean): PreparedLine {
  const content = Buffer.from(text, 'utf8');
  const parsed = parseDelivery({ content, properties: { contentType: 'application/json' } }, { idFrom: [{ kind: 'body' }], idField, maxBytes: Infinity });
  if (parsed.ok) return { ok: true, content, id: parsed.id, generated: false };
  if (parsed.reason === 'NOT_JSON') return { ok: false, problem: `is not JSON (${parsed.detail.replace(/^body is not valid JSON: /, '')})` };
  if (parsed.reason !== 'NO_ID') return { ok: false, problem: `has a message id the pool would dead-letter: ${parsed.detail}` };
  if (!generateIds) return { ok: false, problem: `has no message id (no "${idField}" field; set --id-field, or pass --generate-ids to publish it under a new id)` };
  const id = uuidv7();
  return { ok: true, content: withField(text, idField, id), id, generated: true };
}

/** An object line with `"field":"id",` inserted after its opening brace; any other JSON line unchanged (its id travels as the message-id property only). */
function withField(text: string, field: string, id: string): Buffer {
  const open = /^\s*\{/.exec(text);
  if (!open) return Buffer.from(text, 'utf8');
  const rest = text.slice(open[0].length);
  const sep = /^\s*\}/.test(rest) ? '' : ',';
  return Buffer.from(`${open[0]}${JSON.stringify(field)}:${JSON.stringify(id)}${sep}${rest}`, 'utf8');
}

export const publish: Command = {
  name: 'publish',
  summary: 'publish JSON lines (stdin or --file) with confirms, each under the message id it carries',
  usage: 'publish --queue Q [--file FILE] [--amqp URL] [--id-field FIELD] [--generate-ids]',
  about: `One JSON value per line; blank lines are skipped. Each line's bytes are published unchanged
(parsed only to find the id), with its id (the --id-field of the body: a string or an integer)
as the AMQP message id too, so resending a line is deduplicated. A line without an id stops
the run, unless --generate-ids: then a new id is added as the line's first field, the one
change publish makes to a line. Progress goes to stderr on a terminal.

Exit codes: 0 every line published and confirmed; 1 the broker did not confirm a message;
2 bad flag, unreadable file, a line that is not JSON, has no id, or has an id the pool would
dead-letter (the message says how many lines before it were published).`,
  flags,
  async run(args) {
    const o = {
      queue: checkOption(QUEUE, flagOrEnv(args, flags[0])) as string,
      amqpUrl: checkOption(AMQP, flagOrEnv(args, flags[2]) ?? defaultText(AMQP)) as string,
      idField: checkOption(ID_FIELD, flagOrEnv(args, flags[3]) ?? defaultText(ID_FIELD)) as string,
    };
    const file = typeof args.flags.file === 'string' ? args.flags.file : undefined;
    const producer = new Producer(o);
    try {
      const published = await publishLines(producer, await openInput(file), {
        idField: o.idField,
        generateIds: args.flags['generate-ids'] === true,
        onProgress: terminalProgress(),
        target: `queue ${o.queue} on ${redactUrl(o.amqpUrl)}`,
      });
      process.stderr.write(`published ${published} message(s) to ${o.queue}\n`);
      return EXIT.OK;
    } finally {
      await producer.close();
    }
  },
};

async function openInput(file: string | undefined): Promise<NodeJS.ReadableStream> {
  if (file === undefined) return process.stdin;
  const stream = createReadStream(file);
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err) => reject(new ConfigError('file', `--file ${file} cannot be read: ${err.message}`)));
  });
  return stream;
}

function progressLine(n: number): string {
  return `publishing: ${n} message(s) confirmed`;
}

type Outcome = { line: number; error?: unknown };

export interface PublishLinesOptions {
  idField: string;
  generateIds: boolean;
  /** Called with the number confirmed so far, at most every PROGRESS_MS, and once at the end. */
  onProgress?: (confirmed: number, done: boolean) => void;
  /** Where generated ids go ("LINE ID" lines). */
  out?: (line: string) => void;
  /** Named in a publish failure: `queue Q on amqp://...` (credentials redacted). */
  target?: string;
}

/** A progress line rewritten in place on a terminal; nothing otherwise. */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): PublishLinesOptions['onProgress'] {
  if (stream.isTTY !== true) return undefined;
  return (n, done) => stream.write(`\r${progressLine(n)}${done ? '\n' : ''}`);
}

/** Publish every line; resolves with the number published, or throws naming the line that stopped it. */
export async function publishLines(producer: Pick<Producer, 'publish'>, input: NodeJS.ReadableStream, o: PublishLinesOptions): Promise<number> {
  const out = o.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  let confirmed = 0;
  let lastProgress = 0;
  const progress = (done: boolean): void => {
    if (!o.onProgress || (!done && Date.now() - lastProgress < PROGRESS_MS)) return;
    lastProgress = Date.now();
    o.onProgress(confirmed, done);
  };
  const pending: Promise<Outcome>[] = [];
  /** Wait for the oldest publish; a failed one stops the run. */
  const settleOldest = async (): Promise<void> => {
    const { line, error } = await pending.shift()!;
    if (error !== undefined) {
      await Promise.all(pending.splice(0)); // let the rest settle before the producer closes
      progress(true);
      throw new CliFailure(`line ${line} was not published${o.target ? ` to ${o.target}` : ''}: ${errorMessage(error)}; the ${confirmed} line(s) before it were published`, EXIT.FAILED);
    }
    confirmed += 1;
    progress(false);
  };
  /** The lines before `line` are all confirmed, then the run stops with `message`. */
  const stopAt = async (line: number, message: string): Promise<never> => {
    while (pending.length) await settleOldest();
    progress(true);
    throw new ConfigError('input', `line ${line} ${message}; the ${confirmed} line(s) before it were published`);
  };

  let line = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    line += 1;
    if (text.trim() === '') continue;
    const prepared = prepareLine(text, o.idField, o.generateIds);
    if (!prepared.ok) return stopAt(line, prepared.problem);
    const { content, id, generated } = prepared;
    if (generated) out(`${line} ${id}`);
    const n = line;
    pending.push(producer.publish(content, { id, contentType: 'application/json' }).then((): Outcome => ({ line: n }), (error: unknown): Outcome => ({ line: n, error })));
    // The first publish opens the connection; the rest share it, up to WINDOW awaiting their confirms.
    if (confirmed === 0 && pending.length === 1) await settleOldest();
    else if (pending.length >= WINDOW) await settleOldest();
  }
  while (pending.length) await settleOldest();
  progress(true);
  return confirmed;
}
