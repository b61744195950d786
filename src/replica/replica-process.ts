/**
 * Entry point of a replica process started by the supervisor. Options arrive
 * over IPC; stats go back every STATS_INTERVAL_MS. If the supervisor dies (IPC
 * disconnects), the replica stops at once (requeueing what runs): no orphan keeps consuming.
 */
import { UnsupportedServerError, errorMessage } from '../common/errors.js';
import { STATS_INTERVAL_MS, type FromReplica, type ToReplica } from './ipc.js';
import { Replica } from './replica.js';

function send(msg: FromReplica): void {
  if (process.connected) process.send!(msg);
}

function sendStats(r: Replica): void {
  const amqp = r.amqpNode;
  send({ type: 'stats', stats: r.stats, threads: r.opts.threads, consuming: r.ready, ...(amqp !== undefined && { amqp }) });
}

let replica: Replica | undefined;
let timer: NodeJS.Timeout | undefined;

async function shutdown(code: number): Promise<never> {
  if (timer) clearInterval(timer);
  await replica?.stop().catch(() => {});
  if (replica) sendStats(replica);
  process.exit(code);
}

function stopNow(): Promise<never> {
  void replica?.stopNow();
  return shutdown(0);
}

process.on('message', (msg: ToReplica) => {
  switch (msg.type) {
    case 'start':
      void (async () => {
        try {
          replica = new Replica(msg.options, undefined, { firstAmqpNode: msg.slot });
          await replica.start();
        } catch (err) {
          send({ type: 'fatal', message: errorMessage(err), ...(err instanceof UnsupportedServerError ? { permanent: { option: err.option } } : {}) });
          process.exit(2);
        }
        send({ type: 'ready' });
        timer = setInterval(() => sendStats(replica!), STATS_INTERVAL_MS);
      })();
      break;
    case 'drain':
      void shutdown(0);
      break;
    case 'stop-now':
      void stopNow();
      break;
    case 'threads':
      void replica?.setThreads(msg.threads).catch((err: unknown) => replica?.log.error({ err }, 'could not change threads'));
      break;
  }
});
// The supervisor is gone (exited on a third Ctrl-C, or crashed): nobody waits for a drain, so stop now.
process.on('disconnect', () => void stopNow());
// Signals go to the supervisor, which drains replicas itself; a terminal's Ctrl-C reaches
// the whole process group, so a replica ignores it rather than stopping twice.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => void shutdown(0));
