/** A supervisor started through the real CLI, with its admin endpoint found from its log. */
import { spawnCli, type ReplicaProcess, type SpawnOptions } from './processes.js';
import { waitFor } from './services.js';
import type { SupervisorStatus } from '../../src/supervisor/supervisor.js';

export interface SupervisorProcess extends ReplicaProcess {
  admin: string;
  status(): Promise<SupervisorStatus>;
  waitForStatus(cond: (s: SupervisorStatus) => boolean, what: string, timeoutMs?: number): Promise<SupervisorStatus>;
  metrics(): Promise<Map<string, number>>;
}

export async function startSupervisor(
  args: { queue: string; prefix: string; handler: string; admin?: string; extra?: string[] },
  env: NodeJS.ProcessEnv = {},
  spawnOpts: SpawnOptions = {},
): Promise<SupervisorProcess> {
  const p = spawnCli(['start', '--queue', args.queue, '--prefix', args.prefix, '--handler', args.handler, '--admin', args.admin ?? '127.0.0.1:0', ...(args.extra ?? [])], env, spawnOpts);
  const started = await p.waitForLog('supervisor started');
  const admin = started.admin as string;
  const status = async (): Promise<SupervisorStatus> => (await fetch(`http://${admin}/status`)).json() as Promise<SupervisorStatus>;
  const sup: SupervisorProcess = {
    ...p,
    admin,
    status,
    async waitForStatus(cond, what, timeoutMs = 30_000) {
      let last: SupervisorStatus | undefined;
      await waitFor(async () => cond((last = await status())), timeoutMs, `${what} (last status: ${JSON.stringify(last?.slots)})`);
      return last!;
    },
    metrics: () => scrape(admin),
  };
  await sup.waitForStatus((s) => s.slots.length > 0 && s.slots.every((x) => x.state === 'ready'), 'replicas ready');
  return sup;
}

/** /metrics as a map from `name{labels}` to value, without the `queue` label every sample carries. */
export async function scrape(admin: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    const key = line.slice(0, i).replace(/,?queue="[^"]*"/, '').replace('{,', '{').replace('{}', '');
    out.set(key, Number(line.slice(i + 1)));
  }
  return out;
}

/** Stop a supervisor started by a test (SIGTERM, then wait for its exit), if it still runs. */
export async function stopSupervisor(sup: SupervisorProcess | undefined): Promise<void> {
  if (sup && sup.child.exitCode === null) {
    sup.child.kill('SIGTERM');
    await sup.exited;
  }
}

/** SIGKILL a random replica every `everyMs` (while another is up to carry on) until stopped; returns how many were killed. */
export function killReplicas(sup: SupervisorProcess, everyMs: number): { stop(): number } {
  let kills = 0;
  const timer = setInterval(() => {
    void sup.status().then((s) => {
      const pids = s.slots.filter((x) => x.state === 'ready' && x.pid).map((x) => x.pid!);
      const pid = pids[Math.floor(Math.random() * pids.length)];
      if (!pid || pids.length < 2) return;
      try {
        process.kill(pid, 'SIGKILL');
        kills++;
      } catch {
        // It exited between the status and the kill (ESRCH): not a kill of ours.
      }
    }, () => {});
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return kills;
    },
  };
}
