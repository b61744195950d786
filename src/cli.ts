/**
 * dedup-pool start | replica | scale | status | publish | help
 */
import { createReadStream } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { startAdmin } from './admin.js';
import { ConfigError } from './errors.js';
import { createLogger } from './logger.js';
import { OPTION_SPECS, optionsFromFlags, resolveOptions } from './options.js';
import { Producer } from './producer.js';
import { Replica } from './replica.js';
import { Supervisor, type SupervisorStatus } from './supervisor.js';

const USAGE = `Usage:
  dedup-pool start --queue Q --handler PATH [options]   supervisor: --replicas processes, each with --threads threads
  dedup-pool replica --queue Q --handler PATH [options] one replica in the foreground, no supervisor
                                                          (for orchestrators that supervise processes themselves)
  dedup-pool scale [R] [--threads T] [--admin HOST:PORT] [--admin-token T]
                                                          change a running supervisor's replicas and/or threads
  dedup-pool status [--json] [--admin HOST:PORT]        replicas, threads, in-flight, counters
  dedup-pool publish --queue Q [--file F] [--amqp URL] [--id-field F]
                                                          publish JSON lines (stdin or F) with confirms
  dedup-pool bench [--scenario a,b | --all | --list] [--scale F]
                                                          throughput and duplicate counts against baselines
  dedup-pool help

Options of start (each also from its env variable):
${OPTION_SPECS.map((s) => `  --${s.flag.padEnd(18)} ${s.env.padEnd(24)} ${s.doc}${'default' in s ? ` (default ${JSON.stringify(s.default)})` : ''}`).join('\n')}
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return start(rest);
    case 'replica':
      return replica(rest);
    case 'scale':
      return scale(rest);
    case 'status':
      return status(rest);
    case 'bench': {
      const bench = (await import('../bench/run.js')) as { main(args: string[]): Promise<number> };
      return bench.main(rest);
    }
    case 'publish':
      return publish(rest);
    case 'help':
    case '--help':
    case '-h':
    case undefined:
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new ConfigError('command', `unknown command "${command}" (expected start, replica, scale, status, publish, bench or help)`);
  }
}

function parse(args: string[], names: readonly string[], booleans: readonly string[] = [], positionals = false) {
  try {
    const { values, positionals: rest } = parseArgs({
      args,
      options: Object.fromEntries([
        ...names.map((n) => [n, { type: 'string' as const }]),
        ...booleans.map((n) => [n, { type: 'boolean' as const }]),
      ]),
      strict: true,
      allowPositionals: positionals,
    });
    return { values: values as Record<string, string | boolean | undefined>, rest };
  } catch (err) {
    throw new ConfigError('flags', `${(err as Error).message}\n\n${USAGE}`);
  }
}

function flags(args: string[], names: readonly string[]): Record<string, string | undefined> {
  return parse(args, names).values as Record<string, string | undefined>;
}

const ALL_FLAGS = OPTION_SPECS.map((s) => s.flag);

/** Run until SIGTERM/SIGINT (then `stop`), or until `fatal` fires. */
function runUntilSignal(stop: () => Promise<void>, onFatal: (cb: () => void) => void, log: { info: (o: object, m: string) => void }): Promise<number> {
  return new Promise<number>((resolve) => {
    const shutdown = (signal: string): void => {
      log.info({ signal }, 'shutdown requested');
      stop().then(() => resolve(0), () => resolve(1));
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    onFatal(() => resolve(1));
  });
}

async function start(args: string[]): Promise<number> {
  const opts = resolveOptions(optionsFromFlags(flags(args, ALL_FLAGS)));
  opts.handler = resolvePath(opts.handler);
  const log = createLogger(opts.logLevel, { role: 'supervisor', queue: opts.queue });
  const supervisor = new Supervisor(opts, log);
  const admin = await startAdmin(supervisor, opts.admin, opts.adminToken);
  log.info({ admin: admin.address, replicas: opts.replicas, threads: opts.threads }, 'supervisor started');
  try {
    await supervisor.start();
  } catch (err) {
    await admin.close();
    throw err;
  }
  const stop = async (): Promise<void> => {
    await supervisor.stop();
    await admin.close();
  };
  return runUntilSignal(stop, (cb) => supervisor.once('fatal', () => void admin.close().then(cb)), log);
}

async function replica(args: string[]): Promise<number> {
  const r = await new Replica(optionsFromFlags(flags(args, ALL_FLAGS))).start();
  return runUntilSignal(() => r.stop(), () => {}, r.log);
}

function adminUrl(values: Record<string, string | boolean | undefined>, path: string): string {
  const admin = (values.admin as string | undefined) ?? process.env.DEDUP_ADMIN ?? '127.0.0.1:9464';
  return `http://${admin}${path}`;
}

async function scale(args: string[]): Promise<number> {
  const { values, rest } = parse(args, ['threads', 'admin', 'admin-token'], ['json'], true);
  const body: Record<string, number> = {};
  if (rest[0] !== undefined) body.replicas = Number(rest[0]);
  if (values.threads !== undefined) body.threads = Number(values.threads);
  if (rest.length > 1 || Object.keys(body).length === 0) throw new ConfigError('replicas', 'usage: dedup-pool scale [R] [--threads T]');
  const token = (values['admin-token'] as string | undefined) ?? process.env.DEDUP_ADMIN_TOKEN;
  const res = await fetch(adminUrl(values, '/scale'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
  const reply = (await res.json()) as SupervisorStatus & { error?: string };
  if (!res.ok) throw new ConfigError('scale', `supervisor refused: ${reply.error ?? res.status}`);
  printStatus(reply, values.json === true);
  return 0;
}

async function status(args: string[]): Promise<number> {
  const { values } = parse(args, ['admin'], ['json']);
  const res = await fetch(adminUrl(values, '/status'));
  printStatus((await res.json()) as SupervisorStatus, values.json === true);
  return 0;
}

function printStatus(s: SupervisorStatus, asJson: boolean): void {
  if (asJson) return void process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
  const t = s.totals;
  const lines = [
    `replicas ${s.slots.filter((x) => x.state === 'ready').length}/${s.replicas} ready, ${s.threads} thread(s) each, ${s.restarts} restart(s)`,
    '  slot  pid      state     uptime    restarts  threads  in-flight',
    ...s.slots.map((x) =>
      `  ${String(x.slot).padEnd(5)} ${String(x.pid ?? '-').padEnd(8)} ${x.state.padEnd(9)} ${`${Math.round(x.uptimeMs / 1000)}s`.padEnd(9)} ${String(x.restarts).padEnd(9)} ${String(x.threads).padEnd(8)} ${x.inFlight}`),
    `deliveries ${t.deliveries}  completed ${t.completed}  duplicates ${t.duplicates.done + t.duplicates['in-flight']} (done ${t.duplicates.done}, in-flight ${t.duplicates['in-flight']})`,
    `retried ${t.retried}  dead-lettered ${JSON.stringify(t.deadLettered)}  lease extensions ${t.leaseExtensions}  leases lost ${t.leaseLost}  in flight ${t.inFlight}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
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
