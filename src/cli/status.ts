/** `dedup-pool status` and `dedup-pool scale`: talk to a running pool's admin endpoint. */
import type { StatusReply } from '../supervisor/admin.js';
import { ConfigError } from '../common/errors.js';
import { ADMIN_FLAG, adminAddress, callAdmin } from './admin-client.js';
import { flagOrEnv } from './args.js';
import { formatStatus } from './status-format.js';
import { CliFailure, EXIT, type Command, type FlagSpec } from './types.js';

const JSON_FLAG: FlagSpec = { name: 'json', type: 'boolean', doc: 'print the status as JSON' };

function print(s: StatusReply, asJson: boolean): void {
  process.stdout.write(asJson ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
}

export const status: Command = {
  name: 'status',
  summary: 'queue, handler, replicas, rates, dead-letter depth and counters of a running pool',
  usage: 'status [--admin HOST:PORT] [--json]',
  about: `Asks the admin endpoint of a running supervisor (or of a replica started with --admin).

Exit codes: 0 ready (a replica is consuming); 1 not ready, or no pool answers at --admin;
2 bad flag.`,
  flags: [ADMIN_FLAG, JSON_FLAG],
  async run(args) {
    const { body } = await callAdmin<StatusReply>(adminAddress(args), '/status');
    print(body, args.flags.json === true);
    return body.ready ? EXIT.OK : EXIT.FAILED;
  },
};

const TOKEN_FLAG: FlagSpec = { name: 'admin-token', type: 'string', value: 'TOKEN', env: 'DEDUP_ADMIN_TOKEN', doc: 'bearer token, when the supervisor was started with one' };
const THREADS_FLAG: FlagSpec = { name: 'threads', type: 'string', value: 'T', doc: 'worker threads per replica (0: handlers on the main thread)' };

export const scale: Command = {
  name: 'scale',
  summary: "change a running supervisor's replicas and/or threads per replica",
  usage: 'scale [R] [--threads T] [--admin HOST:PORT] [--admin-token TOKEN] [--json]',
  about: `R replicas on this host: new ones start, extra ones drain and exit. --threads T: each
replica replaces its thread pool; running tasks finish on the old one.

Exit codes: 0 done; 1 no supervisor answers at --admin, or it refused; 2 bad flag or value.`,
  flags: [THREADS_FLAG, ADMIN_FLAG, TOKEN_FLAG, JSON_FLAG],
  positionals: 1,
  async run(args) {
    const body: Record<string, number> = {};
    const [replicas] = args.positionals;
    const threads = args.flags.threads;
    if (replicas !== undefined) body.replicas = integer(replicas, 'replicas', 1, 64);
    if (typeof threads === 'string') body.threads = integer(threads, 'threads', 0, 256);
    if (Object.keys(body).length === 0) throw new ConfigError('replicas', 'give a number of replicas, --threads, or both: dedup-pool scale 3, dedup-pool scale --threads 4');
    const token = flagOrEnv(args, TOKEN_FLAG);
    const address = adminAddress(args);
    const res = await callAdmin<StatusReply & { error?: string }>(address, '/scale', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    });
    if (res.status === 401) throw new CliFailure(`the supervisor at ${address} needs its admin token: pass --admin-token or set DEDUP_ADMIN_TOKEN`, EXIT.FAILED);
    if (res.status === 404) throw new CliFailure(`${address} cannot scale (a lone replica has no /scale; scale it with its orchestrator)`, EXIT.FAILED);
    if (res.status >= 400) throw new CliFailure(`the supervisor at ${address} refused: ${res.body.error ?? `HTTP ${res.status}`}`, EXIT.FAILED);
    print(res.body, args.flags.json === true);
    return EXIT.OK;
  },
};

function integer(text: string, what: string, min: number, max: number): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new ConfigError(what, `${what === 'threads' ? '--threads' : 'replicas'} must be an integer from ${min} to ${max}; got ${JSON.stringify(text)}`);
  return n;
}
