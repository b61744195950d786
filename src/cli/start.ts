/** `dedup-pool start`: the supervisor and its admin endpoint. */
import { resolve as resolvePath } from 'node:path';
import { startAdmin, type AdminSource } from '../supervisor/admin.js';
import { dashboardRoutes } from '../supervisor/dashboard.js';
import { errorMessage } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { resolveOptions } from '../common/options.js';
import { QueueDepths } from '../amqp/queue-depth.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { loadTls } from '../common/tls.js';
import { poolFlags, poolInput } from './pool-flags.js';
import { runUntilSignal } from './run-until-signal.js';
import { CliFailure, EXIT, type Command } from './types.js';

export const start: Command = {
  name: 'start',
  summary: 'run the pool: a supervisor of --replicas processes, each with --threads threads',
  usage: 'start --queue Q --handler PATH [flags]',
  about: `Starts --replicas replica processes on this host, restarts one that dies, and serves
the dashboard at /, /healthz /readyz /metrics /status and POST /scale on --admin. SIGTERM or Ctrl-C drains;
a second one stops now (running handlers aborted, their messages requeued).
Every flag can also come from its environment variable.

Exit codes: 0 drained after a signal; 1 stopped on an error while running;
2 bad flag or value, a handler that does not load or declares an atomic mode the store cannot
honour, a Redis older than 7.0 or one that refuses the login, --dedup-ttl or --dedup-buckets
other than those stored for the prefix and scope (docs/layout.md), or replicas that keep
dying at start-up.`,
  flags: poolFlags(),
  async run(args) {
    const opts = resolveOptions(poolInput(args));
    opts.handler = resolvePath(opts.handler);
    const log = createLogger(opts.logLevel, { role: 'supervisor', queue: opts.queue }, opts.logFormat);
    const supervisor = new Supervisor(opts, log);
    const depths = new QueueDepths(opts.amqpUrl, opts.queue, loadTls(opts));
    const source: AdminSource = { role: 'supervisor', status: () => supervisor.status(), scale: (c) => supervisor.scale(c), queueDepths: () => depths.read() };
    const admin = await startAdmin(source, { listen: opts.admin, ...(opts.adminToken !== undefined && { token: opts.adminToken }), routes: dashboardRoutes(source) });
    log.info({ admin: admin.address, replicas: opts.replicas, threads: opts.threads }, 'supervisor started');
    const close = async (): Promise<void> => {
      await admin.close();
      await depths.close();
    };
    try {
      await supervisor.start();
    } catch (err) {
      await close();
      throw new CliFailure(errorMessage(err), EXIT.USAGE);
    }
    const stop = async (): Promise<void> => {
      await supervisor.stop();
      await close();
    };
    const stopNow = async (): Promise<void> => {
      await supervisor.stopNow();
      await close();
    };
    return runUntilSignal(stop, stopNow, (cb) => supervisor.once('fatal', () => void close().then(cb)), log);
  },
};
