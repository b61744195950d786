/** `dedup-pool replica`: one replica in the foreground, with its own admin endpoint when --admin is given. */
import { startAdmin, type AdminServer } from '../supervisor/admin.js';
import { errorMessage } from '../common/errors.js';
import { QueueDepths } from '../amqp/queue-depth.js';
import { Replica } from '../replica/replica.js';
import { replicaAdminSource } from '../supervisor/replica-status.js';
import { loadTls } from '../common/tls.js';
import { flagOrEnv } from './args.js';
import { poolFlags, poolInput } from './pool-flags.js';
import { runUntilSignal } from './run-until-signal.js';
import { CliFailure, EXIT, type Command } from './types.js';

const flags = poolFlags(['replicas', 'admin-token'], {
  admin: { doc: 'serve /healthz /readyz /metrics /status here (off unless given)', default: undefined },
});
const ADMIN = flags.find((f) => f.name === 'admin');

export const replica: Command = {
  name: 'replica',
  summary: 'run one replica in the foreground, for orchestrators that supervise processes (Kubernetes, systemd)',
  usage: 'replica --queue Q --handler PATH [--admin HOST:PORT] [flags]',
  about: `One replica process, no supervisor: the orchestrator restarts it and runs as many as it
likes. With --admin it serves /healthz (200 while the process runs), /readyz (200 while
consuming, else 503), /metrics and /status. SIGTERM or Ctrl-C drains; a second one stops now.
--replicas and --admin-token are flags of start only.

Exit codes: 0 drained after a signal; 1 failed while draining; 2 bad flag or value, or start-up failed.`,
  flags,
  async run(args) {
    const r = new Replica(poolInput(args));
    const listen = flagOrEnv(args, ADMIN);
    let admin: AdminServer | undefined;
    let depths: QueueDepths | undefined;
    if (listen !== undefined) {
      depths = new QueueDepths(r.opts.amqpUrl, r.opts.queue, loadTls(r.opts));
      admin = await startAdmin(replicaAdminSource(r, depths), { listen: r.opts.admin }).catch(async (err: unknown) => {
        await r.stop(); // its Redis clients and threads exist from construction on
        throw err;
      }); // --admin is validated with the other options
      r.log.info({ admin: admin.address }, 'admin endpoint listening');
    }
    const close = async (): Promise<void> => {
      await admin?.close();
      await depths?.close();
    };
    // Signals are handled from here on, so a replica still waiting for Redis or RabbitMQ stops cleanly too.
    let stopping = false;
    const stopped = runUntilSignal(
      async () => {
        stopping = true;
        await r.stop();
        await close();
      },
      async () => {
        await r.stopNow();
        await close();
      },
      () => {},
      r.log,
    );
    try {
      await r.start();
    } catch (err) {
      if (stopping) return stopped;
      await close();
      throw new CliFailure(errorMessage(err), EXIT.USAGE);
    }
    return stopped;
  },
};
